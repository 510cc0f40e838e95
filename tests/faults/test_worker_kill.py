"""Fault 3: `kill -9` of an ingest worker before and after its commit, at random points.

One store trades while its uplink drains the journal through `tillbox cloud ingest`
processes, and every worker is killed with SIGKILL, then replaced. Round by round the worker
dies by its own hand with the batch's transaction open (`TILLBOX_INGEST_FAULT=before_commit:N`,
holding the store's cursor lock), right after the commit with the ack not yet published
(`after_commit:N`), or from outside at a random moment while batches flow. Afterwards one
worker runs to the end, and the cloud must hold exactly the journal: nothing lost, nothing
twice, each origin gap-free, on-hand equal on both sides, and no alert raised.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import psycopg

from cloud.migrate import connect
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.faults.cloudside import WorkerProcess, open_shop, uplink, wait_synced
from tests.faults.invariants import assert_converged

Conn = psycopg.Connection[Any]
ROUNDS = int(os.environ.get("TILLBOX_FAULT_ROUNDS", "50"))
SEED = int(os.environ.get("TILLBOX_FAULT_SEED", str(random.randrange(1 << 32))))


def cloud_cursor(pg: Conn, store: str) -> int:
    row = pg.execute(
        "SELECT applied_through FROM store_cursor WHERE store = %s", (store,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def test_ingest_workers_killed_before_and_after_commit_lose_and_double_nothing(
    tmp_path: Path,
    cloud_dsn: str,
) -> None:
    rng = random.Random(SEED)
    print(f"TILLBOX_FAULT_SEED={SEED}")  # to replay a failure
    shop = open_shop(tmp_path / "s01", "s01", seed=SEED, skews_ms=(0, 90_000, -40_000))
    shop.trade(60)
    broker = Broker(tmp_path / "broker").start()
    link = uplink(shop, broker).start()
    pg = connect(cloud_dsn)
    workers: list[WorkerProcess] = []
    ahead_after_commit = 0
    try:
        for n in range(ROUNDS):
            point = ("before_commit", "after_commit", "timed")[n % 3]
            # Enough new events for the Nth batch to come, whatever the last round left.
            shop.trade(12)
            fault = None if point == "timed" else f"{point}:{rng.randint(1, 3)}"
            worker = WorkerProcess(
                cloud_dsn, broker.port, f"kill-{n}", tmp_path / f"worker-{n}.log", fault=fault
            )
            workers.append(worker)
            if fault is None:
                wait_for(worker.ingesting, timeout=15, what=f"worker {n} at work")
                # More batches coming, and the kill at a random moment among them.
                shop.trade(rng.randint(0, 9))
                time.sleep(rng.uniform(0.0, 0.25))
                code = worker.kill()
            else:
                died = worker.wait_dead(20)
                log = worker.log_path.read_text(encoding="utf-8", errors="replace")
                assert died == -signal.SIGKILL, f"worker {n} ({fault}) did not die: {log}"
                assert f"says die {point}" in log, log
                code = worker.kill()
                if point == "after_commit" and cloud_cursor(pg, "s01") > link.cursor():
                    # Committed, and the appliance never heard: its resend must be re-acked.
                    ahead_after_commit += 1
            assert code == -signal.SIGKILL
        # Most after_commit kills really fell between the commit and the ack.
        print(f"{ahead_after_commit} after_commit kills left the cloud ahead of the appliance")
        assert ahead_after_commit >= ROUNDS // 3 // 2, ahead_after_commit
        shop.trade(10)
        last = WorkerProcess(cloud_dsn, broker.port, "survivor", tmp_path / "survivor.log")
        workers.append(last)
        wait_synced([link], timeout=30)
        assert_converged(pg, shop.journal)
        assert pg.execute("SELECT kind, details FROM alert").fetchall() == []
        assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
        log = last.stop()
        assert "Traceback" not in log, log
    finally:
        for worker in workers:
            worker.kill()
        link.stop()
        broker.kill()
        pg.close()
        shop.close()
