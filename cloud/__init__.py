"""The Tillbox cloud: MQTT ingest into PostgreSQL, the HQ web, inventory and analytics."""
