"""The stock fold: on-hand and count shrink from a variant's ledger, whatever the arrival order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from protocol.hlc import HLC


class Movement(StrEnum):
    """What a ledger entry records; every kind is a signed delta except COUNT, which is absolute."""

    SALE = "sale"
    RETURN = "return"
    RECEIPT = "receipt"
    ADJUST = "adjust"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    COUNT = "count"
    VOID = "void"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One ledger entry: a signed delta, or for COUNT the absolute quantity counted."""

    hlc: HLC
    origin: str
    kind: Movement
    qty: int
    event_id: str = ""

    def __post_init__(self) -> None:
        """Reject entries the fold could not order or sum."""
        kind = Movement(self.kind)
        # A kind given as its JSON string ("sale") is stored as the enum member, so `is` works.
        object.__setattr__(self, "kind", kind)
        qty: object = self.qty
        if not isinstance(self.hlc, HLC):
            raise ValueError(f"entry hlc must be an HLC, got {self.hlc!r}")
        if not isinstance(self.origin, str) or not self.origin:
            raise ValueError(f"entry origin must be a non-empty string, got {self.origin!r}")
        if not isinstance(self.event_id, str):
            raise ValueError(f"entry event_id must be a string, got {self.event_id!r}")
        if not _is_int(qty):
            raise ValueError(f"entry qty must be an int, got {qty!r}")
        if kind is Movement.COUNT and self.qty < 0:
            raise ValueError(f"a count cannot find {self.qty} items")


@dataclass(frozen=True, slots=True, kw_only=True)
class CountResult:
    """A count with the quantity the ledger expected just before it; shrink < 0 is a loss."""

    entry: Entry
    expected: int
    shrink: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Fold:
    """The folded ledger: on-hand, the anchoring count, every count's shrink, and whether negative."""

    on_hand: int
    anchor: Entry | None
    counts: tuple[CountResult, ...]
    negative: bool


def sort_key(entry: Entry) -> tuple[int, int, str, str]:
    """Return the key a ledger is ordered by: (wall_ms, counter, node, origin), never arrival."""
    return (entry.hlc.wall_ms, entry.hlc.counter, entry.hlc.node, entry.origin)


def _total_key(entry: Entry) -> tuple[int, int, str, str, str, str, int]:
    # One origin never stamps two events with the same HLC, so sort_key already orders any real
    # ledger. The rest only makes a malformed one (duplicated stamps) fold the same in every order.
    return (*sort_key(entry), str(entry.kind), entry.event_id, entry.qty)


def fold(entries: Iterable[Entry]) -> Fold:
    """Fold a ledger given in any order: anchor at the latest count, sum the deltas after it."""
    running = 0
    anchor: Entry | None = None
    counts: list[CountResult] = []
    for entry in sorted(entries, key=_total_key):
        if entry.kind is Movement.COUNT:
            counts.append(CountResult(entry=entry, expected=running, shrink=entry.qty - running))
            running = entry.qty
            anchor = entry
        else:
            running += entry.qty
    return Fold(on_hand=running, anchor=anchor, counts=tuple(counts), negative=running < 0)
