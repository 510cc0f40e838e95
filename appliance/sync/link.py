"""What the running uplink knows that SQLite does not: whether the broker connection is up,
and the way to ask the cloud a question over it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.sync.chain import ChainRpc


class LinkState:
    """Whether this process's uplink is connected to the broker. Shared with the HTTP API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connected = False
        self._rpc: ChainRpc | None = None

    @property
    def connected(self) -> bool:
        """True while the MQTT connection is up (CONNACK received, not yet lost)."""
        with self._lock:
            return self._connected

    def set_connected(self, value: bool) -> None:
        """Called by the uplink on connect and disconnect."""
        with self._lock:
            self._connected = value

    @property
    def rpc(self) -> ChainRpc | None:
        """The running uplink's chain requests, or None without an uplink in this process."""
        with self._lock:
            return self._rpc

    def set_rpc(self, rpc: ChainRpc | None) -> None:
        """Called by the uplink when it starts and stops."""
        with self._lock:
            self._rpc = rpc
