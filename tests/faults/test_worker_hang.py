"""A worker that freezes in the middle of a batch (a hung or cut-off host) stalls only the
store whose batch it holds, not every store.

Worker B stops dead (SIGSTOP, its connections left open, as a host that hangs or loses its
network leaves them) inside a batch's transaction, holding that store's cursor lock, and
PostgreSQL, hearing no FIN, keeps the transaction open. Every resend of that store's batch
then reaches worker A and waits on the lock; without a lock timeout each takes one of A's
threads for good, until no thread is left and every store stalls. With it (LOCK_TIMEOUT_S in
cloud/worker.py) the other stores converge through A while B stays frozen, and once B is
killed its store converges too.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from cloud.migrate import connect
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.faults.cloudside import Link, Shop, WorkerProcess, open_shop, uplink, wait_synced
from tests.faults.invariants import assert_converged
from tests.faults.test_worker_kill import SEED

STORES = ("s01", "s02", "s03")


def frozen(worker: WorkerProcess) -> bool:
    """Whether the worker's process is stopped (state T in /proc)."""
    stat = Path(f"/proc/{worker.process.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def test_a_worker_frozen_inside_a_transaction_does_not_stall_the_stores(
    tmp_path: Path, cloud_dsn: str
) -> None:
    print(f"TILLBOX_FAULT_SEED={SEED}")
    shops: list[Shop] = []
    links: list[Link] = []
    workers: list[WorkerProcess] = []
    broker = Broker(tmp_path / "broker").start()
    pg = connect(cloud_dsn)
    try:
        for n, store in enumerate(STORES):
            shop = open_shop(tmp_path / store, store, seed=SEED + n, skews_ms=(0, 15_000))
            shop.trade(30)
            shops.append(shop)
            # Resends at most every second, as in production rarer than the lock timeout.
            link = uplink(shop, broker, sync_ack_timeout_ms=1000, sync_ack_timeout_max_ms=2000)
            links.append(link.start())
        b = WorkerProcess(
            cloud_dsn,
            broker.port,
            "b",
            tmp_path / "b.log",
            fault="before_commit:2:stop",
            # One thread, so the one transaction it holds is the batch it logged last.
            threads=1,
            # Frozen, it still gets its share of the shared subscription until the broker
            # misses its keepalive (1.5 times it); the CLI's 30 s would make a slow test.
            keepalive_s=4,
        )
        workers.append(b)
        wait_for(lambda: frozen(b), timeout=20, what="worker b frozen in a transaction")
        log = b.log_path.read_text(encoding="utf-8")
        # The batch whose transaction b holds open: the last one it logged.
        held = re.findall(r"ingested store=(s\d+)", log)[-1]
        wait_for(
            lambda: (
                pg.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                ).fetchone()
                != (0,)
            ),
            what=f"b's transaction on {held} open",
        )

        a = WorkerProcess(cloud_dsn, broker.port, "a", tmp_path / "a.log", threads=4)
        workers.append(a)
        for shop in shops:
            shop.trade(10)
        others = [link for link in links if link.shop.id != held]
        wait_synced(others, timeout=40, what=f"the other stores synced with b frozen on {held}")
        assert frozen(b)
        (stuck,) = (link for link in links if link.shop.id == held)
        assert not stuck.synced(), f"{held} synced although b holds its cursor"
        assert b"locked by another session" in a.log_path.read_bytes()
        # Killed, b's connection closes and PostgreSQL rolls its transaction back.
        assert b.kill() == -signal.SIGKILL
        wait_synced(links, timeout=30)
        for shop in shops:
            assert_converged(pg, shop.journal)
        assert pg.execute("SELECT kind, details FROM alert").fetchall() == []
    finally:
        for worker in workers:
            if worker.alive():
                os.kill(worker.process.pid, signal.SIGKILL)
            worker.kill()
        for link in links:
            link.stop()
        broker.kill()
        pg.close()
        for shop in shops:
            shop.close()
