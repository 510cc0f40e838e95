"""Sync with the cloud: where the appliance stands (status) and the uplink over MQTT 5."""
