"""Low-stock alerts' cost on ingest: the same backlog ingested with cloud/low_stock.py's
projection on and off (the other projections as they are), in one run.

Events as bench/cloud_ingest_bench.py seals them (sales of 5 lines over 2,000 variants, a
delivery every 20 events, batches of 500), but with the variants in the chain catalog (a
reorder point on each, half of them low at some point) and in the store's directory, so every
batch's touched SKUs are judged. Each run gets a fresh throw-away database. The time spent
inside the projection is printed for each run with it on: on a shared machine that share is a
steadier figure than the difference between two runs.

    .venv/bin/python bench/low_stock_bench.py [--events 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.cloud_ingest_bench import ADMIN, batches, drop, make_events, scratch_database  # noqa: E402
from cloud import ingest, low_stock  # noqa: E402
from cloud.migrate import connect, migrate  # noqa: E402


def _variants(events: list) -> list[str]:  # type: ignore[type-arg]
    seen: dict[str, None] = {}
    for env in events:
        for line in env.body["lines"]:
            seen.setdefault(line["variant"], None)
    return list(seen)


def _prepare(dsn: str, variants: list[str]) -> None:
    with connect(dsn) as conn:
        migrate(conn)
        conn.execute("INSERT INTO store (id) VALUES ('s01')")
        conn.execute("INSERT INTO catalog_vendor (name, lead_time_days) VALUES ('Acme', 10)")
        conn.execute(
            "INSERT INTO catalog_product (name, vendor_id) SELECT 'P', id FROM catalog_vendor"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO catalog_variant (sku, product_id, price, tax_class, reorder_point)"
                " VALUES (%s, (SELECT min(id) FROM catalog_product), 999, 'standard', %s)",
                [(f"SKU-{n}", 6 if n % 2 else None) for n in range(len(variants))],
            )
            cur.executemany(
                "INSERT INTO store_variant (store, uid, sku, local_id) VALUES ('s01', %s, %s, %s)",
                [(v, f"SKU-{n}", n + 1) for n, v in enumerate(variants)],
            )


def _run(admin: str, payloads: list[bytes], variants: list[str], alerts_on: bool) -> float:
    name = scratch_database(admin)
    saved = ingest._HQ_PROJECTIONS
    inside = [0.0]

    def timed(*args: object) -> None:
        started = time.perf_counter()
        low_stock.project(*args)  # type: ignore[arg-type]
        inside[0] += time.perf_counter() - started

    if alerts_on:
        ingest._HQ_PROJECTIONS = tuple(timed if p is low_stock.project else p for p in saved)
    else:
        ingest._HQ_PROJECTIONS = tuple(p for p in saved if p is not low_stock.project)
    try:
        dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
        _prepare(dsn, variants)
        with connect(dsn) as conn:
            started = time.perf_counter()
            for payload in payloads:
                assert "applied_through" in ingest.ingest_batch(conn, "s01", payload)
            took = time.perf_counter() - started
            raised = conn.execute("SELECT count(*) FROM alert WHERE kind = 'low_stock'").fetchone()
        spent = f" ({inside[0]:.2f} s in low_stock.project)" if alerts_on else ""
        state = "on " if alerts_on else "off"
        print(f"  alerts {state}: {took:.2f} s{spent}, low-stock alerts {raised[0]}")
        return took
    finally:
        ingest._HQ_PROJECTIONS = saved
        drop(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dsn", default=ADMIN)
    args = parser.parse_args()
    events = make_events(args.events)
    payloads = batches(events)
    variants = _variants(events)
    off, on = [], []
    for _ in range(args.rounds):
        off.append(_run(args.dsn, payloads, variants, alerts_on=False))
        on.append(_run(args.dsn, payloads, variants, alerts_on=True))
    best_off, best_on = min(off), min(on)
    print(
        f"{args.events} events, best of {args.rounds}: {args.events / best_off:,.0f} events/s"
        f" without low-stock alerts, {args.events / best_on:,.0f} with"
        f" ({(best_on / best_off - 1) * 100:+.1f} % time)"
    )


if __name__ == "__main__":
    main()
