"""systemd's notify protocol (sd_notify) without libsystemd: readiness and the watchdog.

The unit (firmware_config/systemd/tillbox-appliance.service) is `Type=notify` with
`WatchdogSec=`. systemd then passes `NOTIFY_SOCKET` (a datagram socket's path, or an
abstract name starting with `@`) and `WATCHDOG_USEC`/`WATCHDOG_PID`. The server says
`READY=1` once its port is bound, then pings `WATCHDOG=1` for as long as it answers its own
health endpoint: a server whose request threads are all stuck is not pinged, and systemd
kills and restarts it. Outside systemd (no NOTIFY_SOCKET) everything here does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

_log = logging.getLogger(__name__)


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one notification (e.g. "READY=1"); False when not under systemd or it failed."""
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in ("/", "@"):
        return False
    # An abstract socket's name starts with a NUL byte, written "@" in the variable.
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        _log.warning("systemd notification %r failed: %s", message, exc)
        return False
    return True


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; None
    when the watchdog is off or meant for another process (WATCHDOG_PID)."""
    env = os.environ if env is None else env
    if not env.get("NOTIFY_SOCKET"):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2_000_000


def health_probe(url: str, timeout_s: float) -> Callable[[], bool]:
    """A check that the server answers `url` with 200 within `timeout_s`."""

    def probe() -> bool:
        try:
            # The URL is the server's own loopback address, built by serve().
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError) as exc:
            _log.warning("watchdog: %s did not answer: %s", url, exc)
            return False

    return probe


class Watchdog:
    """A thread that pings systemd's watchdog while `healthy()` says so."""

    def __init__(
        self,
        healthy: Callable[[], bool],
        interval_s: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.healthy = healthy
        self.interval_s = interval_s
        self.env = dict(os.environ if env is None else env)
        self.pings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.healthy() and not self._stop.is_set() and notify("WATCHDOG=1", self.env):
                self.pings += 1
            self._stop.wait(self.interval_s)
