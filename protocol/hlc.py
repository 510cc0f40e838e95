"""Hybrid logical clock: stamps that order events across devices whose wall clocks disagree."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

NODE_RE = r"^[a-z0-9-]{1,40}$"
# wall_ms and counter are plain decimals without sign or leading zeros, so str(parse(s)) == s.
HLC_RE = r"^(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,4})\.([a-z0-9-]{1,40})$"
# wall_ms stays within the integers a JavaScript number holds exactly (the PWA compares HLCs too).
MAX_WALL_MS = 2**53 - 1
MAX_COUNTER = 2**16 - 1
DEFAULT_MAX_AHEAD_MS = 300_000

_NODE = re.compile(NODE_RE)
_HLC = re.compile(HLC_RE)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, order=True)
class HLC:
    """One hybrid logical clock stamp; orders as the tuple (wall_ms, counter, node)."""

    wall_ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        """Reject stamps that could not be written and parsed back."""
        wall: object = self.wall_ms
        counter: object = self.counter
        node: object = self.node
        if not _is_int(wall) or not 0 <= self.wall_ms <= MAX_WALL_MS:
            raise ValueError(f"HLC wall_ms must be an int in 0..{MAX_WALL_MS}, got {wall!r}")
        if not _is_int(counter) or not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"HLC counter must be an int in 0..{MAX_COUNTER}, got {counter!r}")
        if not isinstance(node, str) or _NODE.fullmatch(node) is None:
            raise ValueError(f"HLC node must match {NODE_RE}, got {node!r}")

    def __str__(self) -> str:
        """Render as "{wall_ms}.{counter}.{node}"."""
        return f"{self.wall_ms}.{self.counter}.{self.node}"

    @classmethod
    def parse(cls, text: str) -> HLC:
        """Parse "{wall_ms}.{counter}.{node}", raising ValueError on anything malformed."""
        raw: object = text
        if not isinstance(raw, str):
            raise ValueError(f"an HLC must be a string, got {type(raw).__name__}")
        match = _HLC.fullmatch(raw)
        if match is None:
            raise ValueError(f"not an HLC ({{wall_ms}}.{{counter}}.{{node}}): {raw!r}")
        return cls(int(match[1]), int(match[2]), match[3])

    def key(self) -> tuple[int, int, str]:
        """Return the tuple HLCs are ordered by."""
        return (self.wall_ms, self.counter, self.node)


@dataclass(frozen=True, slots=True)
class Observation:
    """The clock after merging a remote stamp, and whether that stamp was too far ahead."""

    hlc: HLC
    clamped: bool


def _system_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    """A thread-safe hybrid logical clock for one node that never goes backwards."""

    def __init__(
        self,
        node: str,
        *,
        wall: Callable[[], int] | None = None,
        last: HLC | None = None,
        max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS,
    ) -> None:
        """Start a clock for node; every stamp it gives will be later than last, if given."""
        raw_node: object = node
        if not isinstance(raw_node, str) or _NODE.fullmatch(raw_node) is None:
            raise ValueError(f"clock node must match {NODE_RE}, got {raw_node!r}")
        if not _is_int(max_ahead_ms) or max_ahead_ms < 0:
            raise ValueError(f"max_ahead_ms must be a non-negative int, got {max_ahead_ms!r}")
        self._node = node
        self._wall = wall if wall is not None else _system_ms
        self._last = last
        self._max_ahead_ms = max_ahead_ms
        self._lock = threading.Lock()

    @property
    def node(self) -> str:
        """The node this clock stamps for."""
        return self._node

    @property
    def last(self) -> HLC | None:
        """The last stamp issued or observed (at first, the one given as last), or None."""
        with self._lock:
            return self._last

    def _stamp(self, wall_ms: int, counter: int) -> HLC:
        # A counter overflow borrows the next millisecond: still strictly later, never backwards.
        if counter > MAX_COUNTER:
            return HLC(wall_ms + 1, 0, self._node)
        return HLC(wall_ms, counter, self._node)

    def now(self) -> HLC:
        """Stamp a local or outgoing event (the send rule)."""
        with self._lock:
            physical = self._wall()
            last = self._last
            if last is None or physical > last.wall_ms:
                stamp = self._stamp(physical, 0)
            else:
                stamp = self._stamp(last.wall_ms, last.counter + 1)
            self._last = stamp
            return stamp

    def observe(self, remote: HLC) -> Observation:
        """Merge a received stamp (the receive rule), clamping one too far ahead of real time."""
        with self._lock:
            physical = self._wall()
            limit = physical + self._max_ahead_ms
            clamped = remote.wall_ms > limit
            # A clamped remote counts as if it had been stamped at the limit: we cannot follow a
            # device whose clock is wrong by hours, but we still advance as far as we trust.
            r_wall, r_counter = (limit, 0) if clamped else (remote.wall_ms, remote.counter)
            last = self._last
            l_wall = last.wall_ms if last is not None else -1
            l_counter = last.counter if last is not None else 0
            wall_ms = max(l_wall, r_wall, physical)
            if wall_ms == l_wall == r_wall:
                counter = max(l_counter, r_counter) + 1
            elif wall_ms == l_wall:
                counter = l_counter + 1
            elif wall_ms == r_wall:
                counter = r_counter + 1
            else:
                counter = 0
            stamp = self._stamp(wall_ms, counter)
            self._last = stamp
            return Observation(hlc=stamp, clamped=clamped)
