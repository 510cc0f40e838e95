"""What every sync fault test asserts at its end (issue 5, "Faults"): no event lost, none
duplicated, every origin gap-free, and on-hand equal on the appliance and in the cloud.

`assert_converged(pg, journal)` compares the cloud's PostgreSQL with one store's appliance
journal (its SQLite file, read directly, so it works for an appliance in another process and
for one that was killed). Call it once the appliance's cloud cursor has reached its head.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from protocol.hlc import HLC
from protocol.stock import Entry, Movement, fold

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Journal:
    """One store's appliance database, read-only."""

    store: str
    path: Path

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def events(self) -> dict[str, tuple[str, int, int]]:
        """id → (origin, seq, store_seq) of every event in the journal."""
        return {
            str(id_): (str(origin), int(seq), int(store_seq))
            for id_, origin, seq, store_seq in self.rows(
                "SELECT id, origin, seq, store_seq FROM event"
            )
        }

    def head(self) -> int:
        return int(self.rows("SELECT COALESCE(MAX(store_seq), 0) FROM event")[0][0])

    def cloud_cursor(self) -> int:
        return int(self.rows("SELECT applied_through FROM cloud_cursor WHERE id = 1")[0][0])

    def on_hand(self) -> dict[str, int]:
        """Each variant's on-hand as the appliance keeps it (`stock_level`)."""
        return {
            str(variant): int(qty)
            for variant, qty in self.rows("SELECT variant, on_hand FROM stock_level")
        }


def cloud_on_hand(pg: Conn, store: str) -> dict[str, int]:
    return {
        str(variant): int(qty)
        for variant, qty in pg.execute(
            "SELECT variant, qty FROM on_hand WHERE store = %s", (store,)
        )
    }


def cloud_fold(pg: Conn, store: str) -> dict[str, int]:
    """On-hand by `protocol.stock.fold` over the cloud's own stock ledger, in Python."""
    entries: dict[str, list[Entry]] = defaultdict(list)
    for variant, kind, qty, wall, counter, node, origin in pg.execute(
        "SELECT variant, kind, qty, hlc_wall, hlc_counter, hlc_node, origin"
        " FROM stock_ledger WHERE store = %s",
        (store,),
    ):
        entries[str(variant)].append(
            Entry(
                kind=Movement(kind),
                qty=int(qty),
                hlc=HLC(int(wall), int(counter), str(node)),
                origin=str(origin),
            )
        )
    return {variant: fold(list(found)).on_hand for variant, found in entries.items()}


def assert_converged(pg: Conn, journal: Journal) -> None:
    """The cloud holds exactly the journal's events, gap-free per origin, and the same on-hand."""
    store = journal.store
    local = journal.events()
    assert local, f"store {store}'s journal is empty"
    assert journal.cloud_cursor() == journal.head(), (
        f"store {store}: the appliance's cloud cursor {journal.cloud_cursor()}"
        f" is short of its head {journal.head()}"
    )
    rows = pg.execute(
        "SELECT id::text, origin, seq, store_seq FROM event WHERE store = %s", (store,)
    ).fetchall()
    cloud = {
        str(id_): (str(origin), int(seq), int(store_seq)) for id_, origin, seq, store_seq in rows
    }
    assert len(cloud) == len(rows), f"store {store}: an event is in the cloud twice"
    lost = local.keys() - cloud.keys()
    extra = cloud.keys() - local.keys()
    assert not lost, f"store {store}: {len(lost)} events never reached the cloud"
    assert not extra, f"store {store}: {len(extra)} events in the cloud are not in the journal"
    moved = {id_: (local[id_], cloud[id_]) for id_ in local if local[id_] != cloud[id_]}
    assert not moved, f"store {store}: events with another origin/seq/store_seq: {moved}"
    store_seqs = sorted(store_seq for _, _, store_seq in cloud.values())
    assert store_seqs == list(range(1, len(store_seqs) + 1)), f"store {store}: store_seq has a gap"
    by_origin: dict[str, list[int]] = defaultdict(list)
    for origin, seq, _ in cloud.values():
        by_origin[origin].append(seq)
    for origin, seqs in by_origin.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"origin {origin} has a gap"
    (cursor,) = pg.execute(
        "SELECT applied_through FROM store_cursor WHERE store = %s", (store,)
    ).fetchone() or (None,)
    assert cursor == journal.head(), f"store {store}: the cloud cursor is {cursor}"
    appliance = journal.on_hand()
    in_cloud = cloud_on_hand(pg, store)
    # A variant whose ledger nets to zero may have a row on one side only.
    variants = appliance.keys() | in_cloud.keys()
    diff = {
        v: (appliance.get(v, 0), in_cloud.get(v, 0))
        for v in variants
        if appliance.get(v, 0) != in_cloud.get(v, 0)
    }
    assert not diff, f"store {store}: on-hand differs (appliance, cloud): {diff}"
    folded = cloud_fold(pg, store)
    drift = {v: (q, in_cloud.get(v, 0)) for v, q in folded.items() if q != in_cloud.get(v, 0)}
    assert not drift, f"store {store}: the cloud's on_hand is not the fold of its ledger: {drift}"
