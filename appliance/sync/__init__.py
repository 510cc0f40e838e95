"""Sync with the cloud. For now only where it stands; the outbox link over MQTT comes later."""
