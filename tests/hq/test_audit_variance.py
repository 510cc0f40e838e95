"""Count variances in SQL (cloud.audit.variance_lines) against protocol.stock.fold: for random
ledgers of counts and deltas from several registers, stamped in any order (ties included),
each count's expected quantity is the fold's running total just before it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud import audit
from cloud.migrate import connect
from protocol.hlc import HLC
from protocol.ids import new_id
from protocol.stock import Entry, Movement, fold
from tests.cloud.conftest import _admin, dsn_for

Conn = psycopg.Connection[Any]
ORIGINS = ("s01-r01", "s01-r02", "s01-ap")
DELTAS = (Movement.SALE, Movement.RETURN, Movement.RECEIPT, Movement.ADJUST, Movement.VOID)


@pytest.fixture(scope="module")
def ledger_db(template_db: str) -> Iterator[Conn]:
    """One migrated database for the module (each example cleans up after itself)."""
    name = f"tillbox_test_variance_{new_id()[-12:]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        with connect(dsn_for(name)) as conn:
            conn.execute("INSERT INTO store (id) VALUES ('s01')")
            for origin in ORIGINS:
                conn.execute("INSERT INTO origin (id, store) VALUES (%s, 's01')", (origin,))
            yield conn
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


entries = st.lists(
    st.tuples(
        st.integers(0, 5),  # wall: few values, so stamps tie often
        st.integers(0, 2),  # counter
        st.sampled_from(ORIGINS),
        st.one_of(
            st.tuples(st.just(Movement.COUNT), st.integers(0, 30)),
            st.tuples(st.sampled_from(DELTAS), st.integers(-9, 9)),
        ),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ledger=entries, other=st.integers(-5, 5))
def test_expected_is_the_folds_running_total_before_each_count(
    ledger_db: Conn, ledger: list[tuple[int, int, str, tuple[Movement, int]]], other: int
) -> None:
    conn = ledger_db
    variant, noise = new_id(), new_id()
    made: list[Entry] = []
    with conn.transaction():
        for n, (wall, counter, origin, (kind, qty)) in enumerate(ledger, start=1):
            event = new_id()
            hlc = HLC(wall_ms=1_000 + wall, counter=counter, node=origin)
            conn.execute(
                "INSERT INTO event (id, store, origin, seq, store_seq, type, hlc, at, envelope)"
                " VALUES (%s, 's01', %s, %s, %s, 'stock.counted', %s, now(), '{}')",
                (event, origin, n, n, str(hlc)),
            )
            rows = [(variant, qty)]
            if n == 1:
                rows.append((noise, other))  # another variant's movement: not this one's
            for line, (moved, amount) in enumerate(rows, start=1):
                conn.execute(
                    "INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall,"
                    " hlc_counter, hlc_node, origin, at) VALUES"
                    " (%s, %s, 's01', %s, %s, %s, %s, %s, %s, %s, now())",
                    (
                        event,
                        line,
                        moved,
                        kind.value if moved == variant else "adjust",
                        amount,
                        hlc.wall_ms,
                        hlc.counter,
                        origin,
                        origin,
                    ),
                )
            made.append(Entry(hlc=hlc, origin=origin, kind=kind, qty=qty, event_id=event))
    try:
        want = {c.entry.event_id: c.expected for c in fold(made).counts}
        counts = [e.event_id for e in made if e.kind is Movement.COUNT]
        got = {
            line.event: line.expected
            for line in audit.variance_lines(conn, counts)
            if line.variant == variant
        }
        assert got == want
    finally:
        with conn.transaction():
            conn.execute("DELETE FROM stock_ledger")
            conn.execute("DELETE FROM event")
