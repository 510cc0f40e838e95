"""Fault 2: `kill -9` of the broker (persistence on) in the middle of a burst of batches, and
again later, each time restarted on the same port; the store keeps selling while it is down.
The uplink and the ingest worker reconnect by themselves, and the cloud converges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.appliance.sync.mqtt_fakes import wait_for
from tests.faults.invariants import assert_converged
from tests.faults.trading import TradingStore, ingest_worker, private_broker, uplink

Conn = psycopg.Connection[Any]


def test_the_broker_killed_mid_burst_and_restarted_loses_and_doubles_nothing(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    shop = TradingStore(tmp_path / "store")
    head = shop.trade(days=4)
    assert head >= 600, head
    with (
        private_broker(tmp_path / "broker") as broker,
        ingest_worker(cloud_dsn, broker.port) as worker,
    ):
        assert worker.wait_subscribed()
        # Small batches, so the backlog is a long burst of them, one in flight at a time.
        with uplink(shop.uplink_runtime(broker.port, sync_batch_max_events=10)) as link:
            for share, sell_days in ((0.2, 1), (0.6, 0)):
                reached = head * share
                wait_for(
                    lambda reached=reached: shop.journal.cloud_cursor() >= reached,
                    timeout=30,
                    what=f"the cloud cursor past {reached:.0f}",
                )
                import time

                print("kill", time.monotonic(), flush=True)
                broker.kill()
                cursor = shop.journal.cloud_cursor()
                assert 0 < cursor < head, "the kill was not in the middle of the burst"
                wait_for(lambda: not link.rt.link.connected, what="the uplink to see it")
                if sell_days:
                    head = shop.trade(days=sell_days)  # selling goes on meanwhile
                broker.start()
                import time

                print("restarted", time.monotonic(), shop.journal.cloud_cursor(), flush=True)
            wait_for(
                lambda: shop.journal.cloud_cursor() == head,
                timeout=60,
                what="the appliance's cloud cursor to reach its head",
            )
    print("done", time.monotonic(), flush=True)
    assert_converged(pg, shop.journal)
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
