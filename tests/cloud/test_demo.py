"""`tillbox cloud demo`: two demo stores and the cloud on one machine, with events flowing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from appliance.settings import DATABASE_FILE
from cloud.demo import DemoOptions, run_demo
from cloud.worker import BrokerSettings
from tests.appliance.sync.mqtt_fakes import Broker, free_port_run
from tests.faults.invariants import Journal, assert_converged

Conn = psycopg.Connection[Any]


def test_the_demo_drains_two_stores_history_and_their_live_sales_into_the_cloud(
    cloud_dsn: str, pg: Conn, tmp_path: Path
) -> None:
    broker = Broker(tmp_path / "broker").start()
    said: list[str] = []
    try:
        stores = run_demo(
            DemoOptions(
                dsn=cloud_dsn,
                broker=BrokerSettings(port=broker.port),
                data=tmp_path / "stores",
                stores=("d01", "d02"),
                base_port=free_port_run(2),
                sale_every_s=0.2,
                seconds=4,
                report_every_s=1,
            ),
            echo=said.append,
        )
    finally:
        broker.kill()
    assert [s.store for s in stores] == ["d01", "d02"]
    for store in stores:
        assert store.till is not None and store.till.sold >= 3
        assert_converged(pg, Journal(store.store, store.data / DATABASE_FILE))
    # The last report shows both stores level with the cloud.
    final = said[-2:]
    assert all(line.split()[3] == "0" for line in final), said[-3:]
    assert any("creating a demo store" in line for line in said)
