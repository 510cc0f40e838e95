"""Low stock over data that arrived through real sync: a store's register sells a tee down to
its reorder point; the events go over Mosquitto to the ingest worker, whose batch raises the
low-stock alert; HQ's dashboard lists it and the Reorder page suggests the tee for that store.
A delivery, synced the same way, resolves the alert and the dashboard no longer lists it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance.runtime import Runtime
from appliance.settings import Settings
from appliance.sync.uplink import Uplink
from cloud.catalog import import_csv
from cloud.store_rpc import StoreResponder
from tests.appliance.selling.helpers import make_till
from tests.appliance.selling.test_stock import cash_sale
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import broker, responder, synced, uid, uplink, worker
from tests.cloud.test_worker import FAST
from tests.conftest import SMALL_CATALOG, FakeWall, Store, make_settings
from tests.hq.conftest import make_hq

__all__ = ["broker", "responder", "uplink", "worker"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store (s01), syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


def _low_rows(html: str, store: str) -> list[str]:
    """The SKUs the dashboard lists as low for `store`."""
    block = re.search(rf'<div class="low-stock" data-store="{store}">(.*?)</table>', html, re.S)
    return [] if block is None else re.findall(r'<tr data-sku="([^"]+)">', block.group(1))


def test_a_sale_through_real_sync_raises_low_stock_and_a_delivery_clears_it(
    store: Store,
    catalog: Runtime,
    wall: FakeWall,
    pg: Conn,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
    uplink: Uplink,
) -> None:
    # The small catalog's TEE-M-RED reorders at 5.
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    rt = store.rt
    till = make_till(store, wall, "manager")
    tee = uid(rt, "TEE-M-RED")
    assert till.send("stock.received", {"lines": [{"variant": tee, "qty": 10}]}).status_code == 200
    assert till.send("sale.completed", cash_sale(till, tee, 6, 1299)).status_code == 200
    synced(rt)

    def open_alerts() -> list[tuple[Any, ...]]:
        return pg.execute(
            "SELECT store, details->>'sku' FROM alert"
            " WHERE kind = 'low_stock' AND resolved_at IS NULL"
        ).fetchall()

    wait_for(lambda: open_alerts() == [("s01", "TEE-M-RED")], timeout=20, what="the alert")
    assert pg.execute("SELECT qty FROM on_hand WHERE store = 's01'").fetchall() == [(4,)]

    hq = make_hq(cloud_dsn)
    buyer = hq.browser().sign_in("buyer")
    dashboard = buyer.get("/hq/")
    assert dashboard.status_code == 200, dashboard.text
    assert _low_rows(dashboard.text, "s01") == ["TEE-M-RED"]
    report = buyer.get("/hq/reorder.csv?store=s01")
    assert report.status_code == 200, report.text
    assert "TEE-M-RED" in report.text
    manager = hq.browser().sign_in("manager")
    assert _low_rows(manager.get("/hq/").text, "s01") == ["TEE-M-RED"]

    # The delivery arrives at the store and syncs: the alert is resolved, the panel empty.
    assert till.send("stock.received", {"lines": [{"variant": tee, "qty": 20}]}).status_code == 200
    synced(rt)
    wait_for(lambda: open_alerts() == [], timeout=20, what="the alert resolved")
    assert _low_rows(buyer.get("/hq/").text, "s01") == []
    assert pg.execute(
        "SELECT count(*) FROM alert WHERE kind = 'low_stock' AND resolved_at IS NOT NULL"
    ).fetchone() == (1,)
