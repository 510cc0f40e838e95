"""Cloud ingest benchmark: one store's backlog drained through cloud.ingest.ingest_batch.

Events are sealed as four registers make them (sales of 5 lines, with a delivery every 20
events), cut into batches of 500 as the appliance's uplink sends them, and ingested one
transaction per batch into a throw-away database on the local PostgreSQL. Beside it, in the
same run: the raw rate of COPY of the same event rows into the same table, in a second
throw-away database. No MQTT yet: this is the database half of the backlog-drain figure.

    .venv/bin/python bench/cloud_ingest_bench.py [--events 20000] [--dsn "host=127.0.0.1 …"]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.ingest import _EVENT_COLUMNS, decode_batch, ingest_batch  # noqa: E402
from cloud.migrate import connect, migrate  # noqa: E402
from protocol.envelope import Envelope, envelope_dict, format_at, seal  # noqa: E402
from protocol.hlc import Clock  # noqa: E402
from protocol.ids import new_id  # noqa: E402

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
BATCH = 500


class Register:
    """Seals one origin's chain."""

    def __init__(self, origin: str, wall: list[int]) -> None:
        self.origin, self.wall, self.seq, self.prev = origin, wall, 0, None
        self.clock = Clock(origin, wall=lambda: self.wall[0])

    def event(self, type: str, body: dict[str, Any]) -> Envelope:
        self.seq += 1
        env = seal(
            id=new_id(),
            type=type,
            store="s01",
            origin=self.origin,
            seq=self.seq,
            hlc=str(self.clock.now()),
            at=format_at(self.wall[0]),
            actor="s01-staff-1",
            override=None,
            body=body,
            prev=self.prev,
        )
        self.prev = env.hash
        return env


def make_events(count: int) -> list[Envelope]:
    """A day's events of four registers, interleaved as they would reach the appliance."""
    wall = [1_795_000_000_000]
    registers = [Register(f"s01-r0{n}", wall) for n in range(1, 5)]
    variants = [new_id() for _ in range(2000)]
    shift = new_id()
    events = []
    for i in range(count):
        wall[0] += 250
        till = registers[i % 4]
        if i % 20 == 0:
            body = {"lines": [{"variant": variants[(i + k) % 2000], "qty": 12} for k in range(5)]}
            events.append(till.event("stock.received", body))
            continue
        lines = [
            {"line": k + 1, "variant": variants[(i * 7 + k) % 2000], "qty": 1, "unit_price": 999}
            for k in range(5)
        ]
        body = {
            "receipt": f"{till.origin}-{i:06d}",
            "shift": shift,
            "catalog_version": 1,
            "currency": "EUR",
            "lines": lines,
            "tenders": [{"kind": "card", "amount": 4995, "reference": "T"}],
            "totals": {"subtotal": 4995, "discount": 0, "tax": 833, "total": 4995},
        }
        events.append(till.event("sale.completed", body))
    return events


def batches(events: list[Envelope]) -> list[bytes]:
    return [
        msgspec.json.encode(
            {
                "from": start + 1,
                "to": start + len(chunk),
                "events": [envelope_dict(e) for e in chunk],
            }
        )
        for start in range(0, len(events), BATCH)
        for chunk in [events[start : start + BATCH]]
    ]


def scratch_database(admin: str) -> str:
    name = f"tillbox_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return name


def drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--dsn", default=ADMIN, help="an admin DSN that may create databases")
    args = parser.parse_args()

    started = time.perf_counter()
    events = make_events(args.events)
    payloads = batches(events)
    print(f"sealed {len(events)} events in {time.perf_counter() - started:.1f} s")

    names = [scratch_database(args.dsn), scratch_database(args.dsn)]
    try:
        ingest_dsn, copy_dsn = (psycopg.conninfo.make_conninfo(args.dsn, dbname=n) for n in names)
        for dsn in (ingest_dsn, copy_dsn):
            with connect(dsn) as conn:
                migrate(conn)

        with connect(ingest_dsn) as conn:
            started = time.perf_counter()
            for payload in payloads:
                ack = ingest_batch(conn, "s01", payload)
                assert "applied_through" in ack, ack
            ingest_s = time.perf_counter() - started
            held = conn.execute("SELECT count(*) FROM event").fetchone()
        assert held == (len(events),), held

        # The same event rows, COPYed straight into the same table (after the store and
        # origin rows its foreign keys need), one transaction per batch.
        rows = []
        for payload in payloads:
            batch = decode_batch("s01", payload)
            rows.extend(
                (
                    i.envelope.id,
                    "s01",
                    i.envelope.origin,
                    i.envelope.seq,
                    i.store_seq,
                    i.envelope.type,
                    i.envelope.hlc,
                    i.envelope.at,
                    i.envelope.actor,
                    msgspec.json.encode(envelope_dict(i.envelope)).decode(),
                )
                for i in batch.items
            )
        with connect(copy_dsn) as conn:
            conn.execute("INSERT INTO store (id) VALUES ('s01')")
            conn.execute(
                "INSERT INTO origin (id, store) SELECT 's01-r0' || n, 's01' FROM generate_series(1, 4) n"
            )
            started = time.perf_counter()
            for start in range(0, len(rows), BATCH):
                with (
                    conn.transaction(),
                    conn.cursor().copy(f"COPY event ({_EVENT_COLUMNS}) FROM STDIN") as copy,
                ):
                    for row in rows[start : start + BATCH]:
                        copy.write_row(row)
            copy_s = time.perf_counter() - started
    finally:
        for name in names:
            drop(args.dsn, name)

    ingest_rate, copy_rate = len(events) / ingest_s, len(events) / copy_s
    print(f"ingest_batch: {len(events)} events in {ingest_s:.2f} s = {ingest_rate:,.0f} events/s")
    print(f"raw COPY of the same event rows: {copy_s:.2f} s = {copy_rate:,.0f} rows/s")
    print(f"ratio: {ingest_rate / copy_rate:.2f}x")


if __name__ == "__main__":
    main()
