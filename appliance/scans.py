"""The scan bus: scans from appliance-attached scanners, each delivered to its one register.

A publisher (a scanner attached to the appliance, appliance/devices/scanners.py, or the fake
source, `POST /api/v1/scans`) hands a scan to its register. The register's open stream gets
it at once, and a small ring buffer per register keeps it for a while, so a stream that
reconnects with the id of the last scan it saw gets what it missed. A register has at most one stream: a newer one replaces the
older, which is told so and ends. A scan is never handed to another register's stream.

Everything is in memory, in this process: a scan nobody read within the buffer's window is
gone, as a scan is on a till whose screen is off. Restarting the appliance starts new ids.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from appliance.errors import Unavailable

_log = logging.getLogger(__name__)

# A scan waits this long, and among this many of its register's latest, for a stream that
# reconnects with Last-Event-ID. Long enough to ride out a Wi-Fi roam or a page reload, short
# enough that a scan from before a break never lands in the next customer's sale.
BUFFER_SCANS = 50
BUFFER_SECONDS = 60.0
KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    """One scan, as its register's stream sends it."""

    id: str
    number: int
    register: str
    code: str
    source: str
    at_ms: int
    # Monotonic seconds when it was published, for the replay window.
    published: float
    # Set when the scanner read something that is not a good code (a GS1 check digit that
    # does not add up, a key its layout cannot type): the register shows "misread, scan
    # again" instead of looking `code` up.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """Tells a stream to stop: another stream of its register took over, or the server stops."""

    reason: Literal["superseded", "shutdown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """A published scan, and whether its register had a stream open to take it at once."""

    scan: Scan
    streaming: bool


class Stream:
    """One register's subscription: its scans arrive here in the order they were published."""

    def __init__(self, register: str) -> None:
        self.register = register
        # Set once its request has ended and the bus has let go of it.
        self.done = False
        self._queue: queue.SimpleQueue[Scan | StreamEnd] = queue.SimpleQueue()

    def next(self, timeout: float) -> Scan | StreamEnd | None:
        """The next scan or end, waiting at most `timeout` seconds (None when nothing came)."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def put(self, item: Scan | StreamEnd) -> None:
        """Hand this stream a scan, or tell it to end."""
        self._queue.put(item)


class ScanBus:
    """Per-register streams and replay buffers. Thread-safe; one per running appliance."""

    def __init__(
        self,
        *,
        keepalive_s: float = KEEPALIVE_SECONDS,
        buffer_scans: int = BUFFER_SCANS,
        buffer_s: float = BUFFER_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keepalive_s = keepalive_s
        self.buffer_scans = buffer_scans
        self.buffer_s = buffer_s
        self._monotonic = monotonic
        # Ids are "{boot}-{n}": a Last-Event-ID from before a restart is recognised as such.
        self.boot = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._count = 0
        self._recent: dict[str, deque[Scan]] = {}
        self._streams: dict[str, Stream] = {}
        self._running = 0
        self._closed = False

    @property
    def active(self) -> int:
        """Streams whose request is still being served (superseded ones until they end)."""
        with self._lock:
            return self._running

    def streaming(self) -> frozenset[str]:
        """The registers whose scan stream is open now (a register app that is running)."""
        with self._lock:
            return frozenset(self._streams)

    def publish(
        self, register: str, code: str, *, source: str, at_ms: int, error: str | None = None
    ) -> Published:
        """Hand a scan to `register`: its stream gets it now, its buffer keeps it for replay.
        With `error`, it is a misread the register shows as such."""
        with self._lock:
            self._count += 1
            scan = Scan(
                id=f"{self.boot}-{self._count}",
                number=self._count,
                register=register,
                code=code,
                source=source,
                at_ms=at_ms,
                published=self._monotonic(),
                error=error,
            )
            recent = self._recent.setdefault(register, deque(maxlen=self.buffer_scans))
            recent.append(scan)
            stream = self._streams.get(register)
            if stream is not None:
                stream.put(scan)
        _log.debug(
            "scan register=%s source=%s id=%s streaming=%s",
            register,
            source,
            scan.id,
            stream is not None,
        )
        return Published(scan=scan, streaming=stream is not None)

    def subscribe(
        self, register: str, last_event_id: str | None, *, limit: int
    ) -> tuple[Stream, list[Scan]]:
        """Open `register`'s stream, ending any older one, with the scans to replay first.

        Replay and subscription happen under one lock, so a scan published meanwhile is
        either replayed or queued, never both and never neither. Without a Last-Event-ID
        nothing is replayed (a fresh screen must not receive an earlier customer's scans);
        with one from this run, the buffered scans after it; with any other (from before a
        restart), every buffered scan, since none of them can have been seen.
        """
        with self._lock:
            if self._closed:
                raise Unavailable(
                    "the appliance is stopping; reconnect in a moment",
                    code="shutting_down",
                    details={"retry_after_s": 2},
                )
            older = self._streams.get(register)
            if older is None and len(self._streams) >= limit:
                raise Unavailable(
                    f"all {limit} scan streams are in use; try again shortly",
                    code="too_many_streams",
                    details={"limit": limit, "retry_after_s": 5},
                )
            stream = Stream(register)
            self._streams[register] = stream
            self._running += 1
            if older is not None:
                older.put(StreamEnd("superseded"))
            replay = self._replay(register, last_event_id)
        return stream, replay

    def _replay(self, register: str, last_event_id: str | None) -> list[Scan]:
        recent = self._recent.get(register)
        if not recent:
            return []
        horizon = self._monotonic() - self.buffer_s
        while recent and recent[0].published < horizon:
            recent.popleft()
        if not last_event_id:
            return []
        boot, _, number = last_event_id.strip().rpartition("-")
        if boot == self.boot and number.isdigit():
            seen = int(number)
            return [scan for scan in recent if scan.number > seen]
        return list(recent)

    def unsubscribe(self, stream: Stream) -> None:
        """A stream's request has ended. Safe to call more than once."""
        with self._lock:
            if stream.done:
                return
            stream.done = True
            self._running -= 1
            if self._streams.get(stream.register) is stream:
                del self._streams[stream.register]

    def close(self) -> None:
        """End every stream and refuse new ones (the server is stopping)."""
        with self._lock:
            self._closed = True
            for stream in self._streams.values():
                stream.put(StreamEnd("shutdown"))

    def open(self) -> None:
        """Take streams again (a server started on this app after an earlier one stopped)."""
        with self._lock:
            self._closed = False
