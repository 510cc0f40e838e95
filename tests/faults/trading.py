"""A store that trades for the sync fault tests: the demo history generator's realistic days
(sales with discounts and split tenders, returns, exchanges, post-voids, cash moves, stock
receipts and counts) sealed and pushed through the real selling code, and the cloud's side
(a private Mosquitto and an in-process ingest worker on the real PostgreSQL)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appliance.catalog.csvio import import_csv
from appliance.catalog.records import CSV_COLUMNS
from appliance.demo.catalog import generate_catalog
from appliance.demo.history import DAY_MS, make_history
from appliance.runtime import Runtime, open_runtime
from appliance.settings import DATABASE_FILE
from appliance.setup import init_store
from appliance.staff.directory import add_staff
from appliance.staff.registers import add_register
from appliance.sync.uplink import Uplink
from cloud.worker import BrokerSettings, IngestWorker
from protocol.permissions import Role
from tests.appliance.sync.mqtt_fakes import Broker
from tests.conftest import make_settings
from tests.faults.invariants import Journal

STORE = "s01"
# Midnight UTC of the first simulated day's end; each call of `trade` moves on from here.
EPOCH_MS = 1_795_000_000_000 - 1_795_000_000_000 % DAY_MS

# Fast uplink timings for tests: a lost ack is made good in half a second.
FAST_UPLINK: dict[str, Any] = {
    "mqtt_host": "127.0.0.1",
    "mqtt_tls": False,
    "sync_ack_timeout_ms": 500,
    "sync_ack_timeout_max_ms": 1000,
    "sync_poll_ms": 20,
    "sync_heartbeat_ms": 1000,
    "mqtt_keepalive_s": 5,
}


class TradingStore:
    """A store with a 60-variant catalog, three cashiers, a supervisor and a manager."""

    def __init__(self, root: Path, *, variants: int = 60) -> None:
        self.data_dir = root
        init_store(root, store=STORE, name="Fault Store")
        self.settings = make_settings(root)
        rt = open_runtime(self.settings)
        try:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            for row in generate_catalog(variants=variants):
                writer.writerow(row.as_dict())
            report = import_csv(rt, buffer.getvalue().encode())
            assert report.applied, report.problems[:3]
            self.cashiers = [
                add_staff(rt, name=f"Cashier {n}", role=Role.CASHIER, pin=pin).id
                for n, pin in enumerate(("1357", "1122", "3344"), start=1)
            ]
            self.supervisor = add_staff(rt, name="Sam", role=Role.SUPERVISOR, pin="2468").id
            self.manager = add_staff(rt, name="Mona", role=Role.MANAGER, pin="9753").id
        finally:
            rt.close()
        self.days = 0

    @property
    def journal(self) -> Journal:
        """The store's journal, read straight from its SQLite file."""
        return Journal(STORE, self.data_dir / DATABASE_FILE)

    def trade(self, days: int) -> int:
        """Trade `days` more simulated days on three fresh registers (a register's chain
        starts with it); the journal's head after them."""
        rt = open_runtime(self.settings)
        try:
            registers = [add_register(rt, f"Till {self.days}-{n}")[0].id for n in (1, 2, 3)]
        finally:
            rt.close()
        self.days += days
        make_history(
            self.settings,
            registers=registers,
            cashiers=self.cashiers,
            supervisor=self.supervisor,
            manager=self.manager,
            days=days,
            end_ms=EPOCH_MS + self.days * DAY_MS,
        )
        return self.journal.head()

    def uplink_runtime(self, port: int, **overrides: Any) -> Runtime:
        """A runtime on the store's data directory whose settings point at a broker."""
        return open_runtime(
            make_settings(self.data_dir, **{**FAST_UPLINK, "mqtt_port": port, **overrides})
        )


@contextmanager
def uplink(rt: Runtime) -> Iterator[Uplink]:
    """The appliance's uplink, started, and stopped (with its runtime) afterwards."""
    link = Uplink(rt)
    try:
        link.start()
        yield link
    finally:
        link.stop()
        rt.close()


@contextmanager
def ingest_worker(
    dsn: str,
    port: int,
    name: str = "w1",
    on_committed: Callable[[str, dict[str, int]], None] | None = None,
) -> Iterator[IngestWorker]:
    """The cloud's ingest worker on a broker, started (not waited for) and stopped after."""
    worker = IngestWorker(
        dsn, BrokerSettings(port=port), name=name, on_committed=on_committed
    ).start()
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def private_broker(root: Path, *, start: bool = True) -> Iterator[Broker]:
    """A private Mosquitto with persistence on a free port, killed afterwards."""
    broker = Broker(root)
    # Mosquitto leaves Nagle on by default, which holds each small ack for ~40 ms.
    with broker.conf.open("a", encoding="utf-8") as conf:
        conf.write("set_tcp_nodelay true\n")
    try:
        if start:
            broker.start()
        yield broker
    finally:
        broker.kill()


def counts(pg: Any, table: str, store: str = STORE) -> int:
    """How many rows of `table` belong to the store."""
    row = pg.execute(f"SELECT count(*) FROM {table} WHERE store = %s", (store,)).fetchone()
    return int(row[0])
