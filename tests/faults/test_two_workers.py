"""Fault 6: two ingest workers on the shared subscription, one killed (-9) and restarted while
five stores push.

Five stores, each an appliance of its own (data directory, journal, uplink), trade and drain
at once through `$share/ingest/…`, which the broker splits between two `tillbox cloud ingest`
processes. Worker A runs throughout; worker B is SIGKILLed again and again (after a commit
with the ack unpublished, inside an open transaction, and at random moments) and started
again. Every store must converge, and both workers must have taken part.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from cloud.migrate import connect
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.faults.cloudside import Link, Shop, WorkerProcess, open_shop, uplink, wait_synced
from tests.faults.invariants import assert_converged
from tests.faults.test_worker_kill import SEED

STORES = ("s01", "s02", "s03", "s04", "s05")
# s04 and s05 trade in bursts and send batches of up to 200 events, above ingest's COPY
# threshold; the others a few events at a time, pipelined.
BURSTY = {"s04", "s05"}
# How each incarnation of worker B dies: by its own hand at a point of a batch, or by timing.
B_DEATHS = (
    "after_commit:3",
    None,
    "before_commit:2",
    None,
    "after_commit:1",
    None,
    "before_commit:4",
    None,
)


def test_two_workers_one_killed_and_restarted_while_five_stores_push(
    tmp_path: Path,
    cloud_dsn: str,
) -> None:
    rng = random.Random(SEED)
    print(f"TILLBOX_FAULT_SEED={SEED}")
    shops: list[Shop] = []
    links: list[Link] = []
    workers: list[WorkerProcess] = []
    broker = Broker(tmp_path / "broker").start()
    pg = connect(cloud_dsn)
    try:
        for n, store in enumerate(STORES):
            shop = open_shop(tmp_path / store, store, seed=SEED + n, skews_ms=(0, 30_000))
            shop.trade(15)
            shops.append(shop)
            batch = 200 if store in BURSTY else 3
            links.append(uplink(shop, broker, sync_batch_max_events=batch).start())

        def trade_everywhere(n: int) -> None:
            for shop in shops:
                if shop.id in BURSTY:
                    shop.trade(12 * n, per_push=12 * n)
                else:
                    shop.trade(n, per_push=3)

        a = WorkerProcess(cloud_dsn, broker.port, "a", tmp_path / "a.log")
        workers.append(a)
        for n, death in enumerate(B_DEATHS):
            b = WorkerProcess(cloud_dsn, broker.port, f"b{n}", tmp_path / f"b{n}.log", fault=death)
            workers.append(b)
            wait_for(b.subscribed, timeout=15, what=f"worker b{n} connected")
            trade_everywhere(10)
            if death is None:
                wait_for(b.ingesting, timeout=15, what=f"worker b{n} at work")
                time.sleep(rng.uniform(0.0, 0.3))
            else:
                point = death.partition(":")[0]
                died = b.wait_dead(20)
                log = b.log_path.read_text(encoding="utf-8", errors="replace")
                assert died == -signal.SIGKILL, f"worker b{n} ({death}) did not die: {log}"
                assert f"says die {point}" in log, log
            assert b.kill() == -signal.SIGKILL
            assert a.alive(), a.stop()
        trade_everywhere(6)
        last = WorkerProcess(cloud_dsn, broker.port, "b-last", tmp_path / "b-last.log")
        workers.append(last)
        wait_synced(links, timeout=60)
        for shop in shops:
            assert_converged(pg, shop.journal)
        assert pg.execute("SELECT kind, details FROM alert").fetchall() == []
        assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
        assert a.ingesting(), "worker A never took a batch"
        for worker in (a, last):
            log = worker.stop()
            assert "Traceback" not in log, log
    finally:
        for worker in workers:
            worker.kill()
        for link in links:
            link.stop()
        broker.kill()
        pg.close()
        for shop in shops:
            shop.close()
