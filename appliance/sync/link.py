"""What the running uplink knows that SQLite does not: whether the broker connection is up."""

from __future__ import annotations

import threading


class LinkState:
    """Whether this process's uplink is connected to the broker. Shared with the HTTP API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connected = False

    @property
    def connected(self) -> bool:
        """True while the MQTT connection is up (CONNACK received, not yet lost)."""
        with self._lock:
            return self._connected

    def set_connected(self, value: bool) -> None:
        """Called by the uplink on connect and disconnect."""
        with self._lock:
            self._connected = value
