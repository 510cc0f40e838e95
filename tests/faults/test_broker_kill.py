"""Fault 2: `kill -9` of the broker (persistence on) in the middle of a burst of batches,
restarted on the same port: once the moment the cloud has committed a batch and published its
ack (so the ack is lost with the broker and the appliance must send the batch again), once at
whatever moment the burst has reached. The store keeps selling while it is down; the uplink and
the ingest worker reconnect by themselves, and the cloud converges."""

from __future__ import annotations

import threading
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
    acked_then_killed = threading.Event()

    def kill_with_the_ack_on_its_way(store: str, ack: dict[str, int]) -> None:
        if not acked_then_killed.is_set() and ack.get("applied_through", 0) >= head // 5:
            broker.kill()
            acked_then_killed.set()

    with (
        private_broker(tmp_path / "broker") as broker,
        ingest_worker(cloud_dsn, broker.port, on_committed=kill_with_the_ack_on_its_way) as worker,
    ):
        assert worker.wait_subscribed()
        # Small batches, so the backlog is a long burst of them, one in flight at a time.
        with uplink(shop.uplink_runtime(broker.port, sync_batch_max_events=10)) as link:
            assert acked_then_killed.wait(30), "no batch was committed"
            for second_kill in (False, True):
                if second_kill:
                    reached = head * 0.6
                    wait_for(
                        lambda reached=reached: shop.journal.cloud_cursor() >= reached,
                        timeout=30,
                        what=f"the cloud cursor past {reached:.0f}",
                    )
                    broker.kill()
                cursor = shop.journal.cloud_cursor()
                assert 0 < cursor < head, "the kill was not in the middle of the burst"
                wait_for(lambda: not link.rt.link.connected, what="the uplink to see it")
                if not second_kill:
                    head = shop.trade(days=1)  # selling goes on meanwhile
                broker.start()
            wait_for(
                lambda: shop.journal.cloud_cursor() == head,
                timeout=60,
                what="the appliance's cloud cursor to reach its head",
            )
    assert_converged(pg, shop.journal)
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
