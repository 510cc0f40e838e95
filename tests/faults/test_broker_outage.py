"""Fault 1: the broker is down for the whole selling day. The appliance keeps selling into its
journal (the outbox) while its uplink cannot connect; when the broker comes up, everything
drains to the cloud, exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.appliance.sync.mqtt_fakes import wait_for
from tests.faults.invariants import assert_converged
from tests.faults.trading import TradingStore, ingest_worker, private_broker, uplink

Conn = psycopg.Connection[Any]


def test_a_day_traded_with_the_broker_down_drains_when_it_comes_up(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    shop = TradingStore(tmp_path / "store")
    with (
        private_broker(tmp_path / "broker", start=False) as broker,
        uplink(shop.uplink_runtime(broker.port)) as link,
        ingest_worker(cloud_dsn, broker.port),
    ):
        # The uplink and the worker both keep trying a broker that is not there.
        head = shop.trade(days=11)
        assert head >= 2000, head
        assert not link.rt.link.connected
        assert shop.journal.cloud_cursor() == 0
        assert pg.execute("SELECT count(*) FROM event").fetchone() == (0,)

        broker.start()
        wait_for(
            lambda: shop.journal.cloud_cursor() == head,
            timeout=60,
            what="the appliance's cloud cursor to reach its head",
        )
        assert link.rt.link.connected
    assert_converged(pg, shop.journal)
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
