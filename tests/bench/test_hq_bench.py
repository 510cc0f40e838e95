"""bench/hq_bench.py --small end to end: it seeds a valid history, times every HQ page as an
admin and as a store manager, compares ingest with and without HQ's projections, and writes
its section."""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import sys
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

from cloud.ingest import _REFOLD_SQL
from tests.cloud.conftest import ADMIN_DSN, dsn_for

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("hq_bench", ROOT / "bench" / "hq_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hq_bench"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_small_run_seeds_a_valid_history_and_times_every_page() -> None:
    bench = _bench()
    suffix = f"_t{secrets.token_hex(4)}"
    database = f"tillbox_bench_hqsmall{suffix}"
    argv = ["--small", "--suffix", suffix, "--repeat", "1", "--events", "1000", "--rounds", "1"]
    try:
        results = bench.main([*argv, "--dsn", ADMIN_DSN])
        small = results["sets"]["small"]
        counts = small["seeding"]["counts"]
        assert counts["sale_fact"] > 30_000 and counts["event"] > 10_000
        with psycopg.connect(dsn_for(database), autocommit=True) as conn:
            _check_history(conn)

        # Every page answered both users; the store manager was not shown chain-only pages.
        admin = {t["path"]: t for t in small["users"]["admin"]}
        manager = {t["path"]: t for t in small["users"]["store_manager"]}
        for timings in (admin, manager):
            assert {t["status"] for t in timings.values()} == {200}, {
                p: t["status"] for p, t in timings.items() if t["status"] != 200
            }
            assert all(len(t["times"]) == 1 and t["times"][0] > 0 for t in timings.values())
        for path in ("/hq/", "/hq/stock", "/hq/stock.csv", "/hq/fleet", "/hq/account"):
            assert path in admin and path in manager
        assert "/hq/stock?store=s01" in admin and "/hq/stock?store=s01" not in manager
        assert "/hq/users" in admin and "/hq/users" not in manager
        assert any("category=" in p for p in admin)

        ingest = results["ingest"]
        assert len(ingest["on"]) == len(ingest["off"]) == 1
        assert ingest["median_on"] > 0 and ingest["median_off"] > 0 and ingest["copy"] > 0

        args = argparse.Namespace(sets="small", dsn=ADMIN_DSN)
        section = bench.report(results, args)
        assert section.startswith(bench.BEGIN) and section.endswith(bench.END)
        assert "| `/hq/stock` |" in section and "drop with the projections" in section
        # The slowest statement of each request was traced.
        assert admin["/hq/stock"]["statements"] > 0 and admin["/hq/stock"]["slowest_sql"]
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'.encode())


def _check_history(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """The seeded history is one ingest could have written."""

    def one(sql: str) -> object:
        row = conn.execute(sql.encode()).fetchone()
        assert row is not None
        return row[0]

    # Every fact and ledger row belongs to an event of its store, of the right type.
    assert (
        one(
            "SELECT count(*) FROM sale_fact f LEFT JOIN event e ON e.id = f.event"
            " AND e.store = f.store AND e.type = CASE f.kind WHEN 'sale' THEN 'sale.completed'"
            " WHEN 'void' THEN 'sale.voided' ELSE 'return.completed' END WHERE e.id IS NULL"
        )
        == 0
    )
    assert (
        one(
            "SELECT count(*) FROM stock_ledger l LEFT JOIN event e ON e.id = l.event"
            " AND e.store = l.store WHERE e.id IS NULL"
        )
        == 0
    )
    # seq has no gaps per origin and store_seq none per store; the cursors stand at the end.
    assert (
        one(
            "SELECT count(*) FROM (SELECT origin, count(*) n, max(seq) m FROM event"
            " GROUP BY origin) s JOIN origin o ON o.id = s.origin"
            " WHERE s.n <> s.m OR o.last_seq <> s.m"
        )
        == 0
    )
    assert (
        one(
            "SELECT count(*) FROM (SELECT store, count(*) n, max(store_seq) m FROM event"
            " GROUP BY store) s JOIN store_cursor c ON c.store = s.store"
            " WHERE s.n <> s.m OR c.applied_through <> s.m"
        )
        == 0
    )
    # Each chain links: an event's prev is the hash of its origin's event before it.
    assert (
        one(
            "SELECT count(*) FROM event a JOIN event b ON b.origin = a.origin AND b.seq = a.seq + 1"
            " WHERE b.envelope ->> 'prev' IS DISTINCT FROM a.envelope ->> 'hash'"
        )
        == 0
    )
    # Z numbers run 1..n per store; each sale's facts add up to its total.
    assert (
        one(
            "SELECT count(*) FROM (SELECT store, count(*) n, max(number) m FROM z_summary"
            " GROUP BY store) z WHERE z.n <> z.m"
        )
        == 0
    )
    assert (
        one(
            "SELECT count(*) FROM event e JOIN (SELECT event, sum(net + tax) t FROM sale_fact"
            " WHERE kind = 'sale' GROUP BY event) f ON f.event = e.id"
            " WHERE (e.envelope #>> '{body,totals,total}')::bigint <> f.t"
        )
        == 0
    )
    # On-hand is the fold of the ledger: ingest's own refold gives the same for every store.
    stores = [r[0] for r in conn.execute("SELECT id FROM store").fetchall()]
    before = conn.execute("SELECT store, variant::text, qty FROM on_hand ORDER BY 1, 2").fetchall()
    assert len(before) > 0
    with conn.transaction():
        for store in stores:
            variants = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT variant::text FROM stock_ledger WHERE store = %s", (store,)
                ).fetchall()
            ]
            conn.execute(_REFOLD_SQL, {"store": store, "variants": variants})
        after = conn.execute(
            "SELECT store, variant::text, qty FROM on_hand ORDER BY 1, 2"
        ).fetchall()
        assert after == before
        # Stock moved enough to look like a shop: most variants in stock, some short.
        positive = sum(1 for r in after if int(str(r[2])) > 0)
        assert positive > len(after) // 2
