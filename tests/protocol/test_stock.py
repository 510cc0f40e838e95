"""Tests for protocol.stock: the stock fold, by the worked example and under shuffled arrival."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol.hlc import HLC
from protocol.stock import CountResult, Entry, Fold, Movement, fold, sort_key

APPLIANCE, A, B, C = "s01-ap", "s01-r01", "s01-r02", "s01-r03"


def at(hhmm: str) -> int:
    """Wall milliseconds of a time of day on 2026-11-25 (UTC)."""
    hour, minute = map(int, hhmm.split(":"))
    return int(datetime(2026, 11, 25, hour, minute, tzinfo=UTC).timestamp() * 1000)


def entry(origin: str, hhmm: str, kind: Movement, qty: int, counter: int = 0) -> Entry:
    return Entry(
        hlc=HLC(at(hhmm), counter, origin),
        origin=origin,
        kind=kind,
        qty=qty,
        event_id=f"{origin}-{hhmm}",
    )


# ARCHITECTURE.md "Stock rules": counted 10 at 08:00, then offline from 10:00 to 12:00.
COUNT_0800 = entry(APPLIANCE, "08:00", Movement.COUNT, 10)
B_SELLS = entry(B, "10:20", Movement.SALE, -2)
B_TAKES_BACK = entry(B, "10:40", Movement.RETURN, 1)
C_COUNTS = entry(C, "11:00", Movement.COUNT, 5)
A_SELLS_3 = entry(A, "10:05", Movement.SALE, -3)
A_SELLS_1 = entry(A, "11:30", Movement.SALE, -1)
# The 08:00 count was already in; the offline events then arrive as B, B, C, A, A.
ARRIVAL = [COUNT_0800, B_SELLS, B_TAKES_BACK, C_COUNTS, A_SELLS_3, A_SELLS_1]

WORKED = Fold(
    on_hand=4,  # 5 counted at 11:00, then A sells 1
    anchor=C_COUNTS,
    counts=(
        CountResult(entry=COUNT_0800, expected=0, shrink=10),
        # expected 10 − 3 − 2 + 1 = 6, counted 5 → shrink −1
        CountResult(entry=C_COUNTS, expected=6, shrink=-1),
    ),
    negative=False,
)


def test_worked_example_in_arrival_order() -> None:
    assert fold(ARRIVAL) == WORKED


def test_worked_example_in_every_arrival_order() -> None:
    orders = list(itertools.permutations(ARRIVAL))
    assert len(orders) == 720
    for order in orders:
        assert fold(order) == WORKED


def test_late_sale_from_before_the_count_moves_shrink_not_on_hand() -> None:
    # A sale rung at 10:50 and synced only now: the count at 11:00 explains one unit more.
    late = entry(A, "10:50", Movement.SALE, -1)
    result = fold([*ARRIVAL, late])
    assert result.on_hand == 4
    assert result.counts[-1] == CountResult(entry=C_COUNTS, expected=5, shrink=0)


def test_no_count_starts_from_zero_and_flags_negative() -> None:
    result = fold([A_SELLS_3, B_SELLS, B_TAKES_BACK])
    assert result == Fold(on_hand=-4, anchor=None, counts=(), negative=True)
    assert fold([]) == Fold(on_hand=0, anchor=None, counts=(), negative=False)


def test_counts_with_equal_wall_and_counter_are_ordered_by_node() -> None:
    wall = at("11:00")
    by_r02 = Entry(hlc=HLC(wall, 4, "s01-r02"), origin="s01-r02", kind=Movement.COUNT, qty=7)
    by_r01 = Entry(hlc=HLC(wall, 4, "s01-r01"), origin="s01-r01", kind=Movement.COUNT, qty=9)
    for order in ([by_r01, by_r02], [by_r02, by_r01]):
        result = fold(order)
        assert result.anchor == by_r02
        assert result.on_hand == 7
        assert [c.entry for c in result.counts] == [by_r01, by_r02]
        assert result.counts[1] == CountResult(entry=by_r02, expected=9, shrink=-2)


def test_sort_key_compares_numbers_not_strings() -> None:
    nine = Entry(hlc=HLC(9, 0, "b"), origin="b", kind=Movement.SALE, qty=-1)
    ten = Entry(hlc=HLC(10, 0, "a"), origin="a", kind=Movement.COUNT, qty=3)
    assert sort_key(nine) == (9, 0, "b", "b")
    assert sort_key(nine) < sort_key(ten)
    # The count at wall 10 is later than the sale at wall 9, although "9" > "10" as text.
    assert fold([ten, nine]).on_hand == 3


def test_movement_values_are_the_json_strings() -> None:
    assert [m.value for m in Movement] == [
        "sale",
        "return",
        "receipt",
        "adjust",
        "transfer_out",
        "transfer_in",
        "count",
        "void",
    ]
    sale = Entry(hlc=HLC(1, 0, "a"), origin="a", kind="sale", qty=-1)  # type: ignore[arg-type]
    assert sale.kind is Movement.SALE


@pytest.mark.parametrize(
    ("kind", "qty", "origin", "message"),
    [
        (Movement.COUNT, -1, A, "a count cannot find -1"),
        ("count-ish", 1, A, "not a valid Movement"),
        (Movement.SALE, 1.0, A, "qty must be an int"),
        (Movement.SALE, 1, "", "origin must be a non-empty string"),
    ],
)
def test_bad_entries_are_refused(kind: Movement, qty: int, origin: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Entry(hlc=HLC(1, 0, "a"), origin=origin, kind=kind, qty=qty)


# --- properties ---------------------------------------------------------------------------

ORIGINS = [A, B, C]
DELTAS = [m for m in Movement if m is not Movement.COUNT]
BASE_MS = 1_795_000_000_000
# A narrow window of walls and counters, so equal walls and equal (wall, counter) pairs occur.
# Walls are multiples of 10 ms, which leaves room to slip a late entry in between.
hlc_parts = st.tuples(st.integers(0, 40), st.integers(0, 3), st.sampled_from(ORIGINS))


def make(parts: tuple[int, int, str], kind: Movement, qty: int) -> Entry:
    wall, counter, origin = parts
    return Entry(hlc=HLC(BASE_MS + 10 * wall, counter, origin), origin=origin, kind=kind, qty=qty)


deltas = st.builds(make, hlc_parts, st.sampled_from(DELTAS), st.integers(-20, 20))
counts = st.builds(make, hlc_parts, st.just(Movement.COUNT), st.integers(0, 50))
# Raw entry sets may even repeat a stamp, which no real origin does; the fold must not care.
raw_ledgers = st.builds(
    lambda d, c: d + c, st.lists(deltas, max_size=25), st.lists(counts, max_size=4)
)


@st.composite
def ledgers(draw: st.DrawFn) -> list[Entry]:
    """Entry sets in which each origin stamps each HLC once, as a real one does."""
    unique: dict[tuple[int, int, str, str], Entry] = {}
    for e in draw(raw_ledgers):
        unique.setdefault(sort_key(e), e)
    return list(unique.values())


@given(raw_ledgers, st.data())
def test_fold_is_the_same_in_any_arrival_order(ledger: list[Entry], data: st.DataObject) -> None:
    expected = fold(ledger)
    for _ in range(3):
        shuffled = data.draw(st.permutations(ledger))
        assert fold(shuffled) == expected


@given(ledgers())
def test_fold_matches_the_rule(ledger: list[Entry]) -> None:
    result = fold(ledger)
    ordered = sorted(ledger, key=sort_key)
    count_entries = [e for e in ordered if e.kind is Movement.COUNT]
    if not count_entries:
        assert result.anchor is None
        assert result.on_hand == sum(e.qty for e in ledger)
    else:
        anchor = max(count_entries, key=sort_key)
        assert result.anchor == anchor
        later = [e.qty for e in ledger if sort_key(e) > sort_key(anchor)]
        assert result.on_hand == anchor.qty + sum(later)
    assert result.negative == (result.on_hand < 0)
    assert [c.entry for c in result.counts] == count_entries
    previous: Entry | None = None
    for count in result.counts:
        start = (-1, -1, "", "") if previous is None else sort_key(previous)
        between = [
            e.qty
            for e in ledger
            if e.kind is not Movement.COUNT and start < sort_key(e) < sort_key(count.entry)
        ]
        assert count.expected == (0 if previous is None else previous.qty) + sum(between)
        assert count.shrink == count.entry.qty - count.expected
        previous = count.entry


@given(ledgers(), st.integers(-20, 20).filter(bool), st.sampled_from(ORIGINS), st.data())
def test_a_late_delta_before_the_anchor_moves_its_shrink_not_on_hand(
    ledger: list[Entry], qty: int, origin: str, data: st.DataObject
) -> None:
    before = fold(ledger)
    assume(before.anchor is not None)
    assert before.anchor is not None
    # Stamp the late delta strictly between the previous count (if any) and the anchor.
    previous = before.counts[-2].entry if len(before.counts) > 1 else None
    low = BASE_MS - 10 if previous is None else previous.hlc.wall_ms
    assume(low < before.anchor.hlc.wall_ms)
    wall = data.draw(st.integers(low + 1, before.anchor.hlc.wall_ms - 1))
    late = Entry(hlc=HLC(wall, 0, origin), origin=origin, kind=Movement.ADJUST, qty=qty)
    after = fold([*ledger, late])
    assert after.on_hand == before.on_hand
    assert after.anchor == before.anchor
    assert after.counts[-1].shrink == before.counts[-1].shrink - qty
    assert after.counts[-1].expected == before.counts[-1].expected + qty
    assert after.counts[:-1] == before.counts[:-1]


@given(st.lists(deltas, max_size=30))
def test_with_no_counts_on_hand_is_the_sum_of_deltas(ledger: list[Entry]) -> None:
    result = fold(ledger)
    assert result.on_hand == sum(e.qty for e in ledger)
    assert result.anchor is None and result.counts == ()
