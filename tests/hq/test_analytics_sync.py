"""Analytics over data that arrived through real sync: a store's register sells, takes a
return and closes its shift; the events go over Mosquitto to the ingest worker, whose batches
keep the rollups; HQ's Analytics page and CSVs show them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime
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
from tests.appliance.selling.test_stock import cash_sale, return_body
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import broker, responder, synced, uid, uplink, worker
from tests.appliance.till import Item
from tests.cloud.test_worker import FAST
from tests.conftest import SMALL_CATALOG, FakeWall, Store, make_settings
from tests.hq.conftest import make_hq

__all__ = ["broker", "responder", "uplink", "worker"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store (s01), syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


def test_sales_through_real_sync_show_in_analytics(
    store: Store,
    catalog: Runtime,
    wall: FakeWall,
    pg: Conn,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
    uplink: Uplink,
) -> None:
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    rt = store.rt
    till = make_till(store, wall, "manager")
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    assert till.send("stock.received", {"lines": [{"variant": tee, "qty": 10}]}).status_code == 200
    first = cash_sale(till, tee, 3, 1299)
    assert till.send("sale.completed", first).status_code == 200
    card = till.send("sale.completed", till.sale_body([Item(mug, 2, 950), Item(tee, 1, 1299)]))
    assert card.status_code == 200, card.get_json()
    back = till.send("return.completed", return_body(till, rt, first, 1, "wrong_size"))
    assert back.status_code == 200, back.get_json()
    closed = till.send(
        "shift.closed", {"shift": till.shift, "cash": {"counts": {"2000": 6}, "total": 12000}}
    )
    assert closed.status_code == 200, closed.get_json()
    synced(rt)
    wait_for(
        lambda: (
            pg.execute("SELECT count(*) FROM store_variant WHERE store = 's01'").fetchone() == (4,)
        ),
        timeout=20,
        what="s01's variant ids in the cloud",
    )
    z = rt.db.one("SELECT body FROM z_report")
    assert z is not None
    over_short = json.loads(z["body"])["cash"]["over_short"]
    sold = rt.db.scalar("SELECT SUM(total - tax) FROM sale")
    refunded = rt.db.scalar("SELECT SUM(total - tax) FROM return_doc")

    hq = make_hq(cloud_dsn)
    admin = hq.browser().sign_in("admin")
    day = datetime.fromtimestamp(wall.ms / 1000, UTC).date().isoformat()
    query = f"store=s01&from={day}&to={day}"
    # The store's zone (Europe/Dublin by default) is UTC+0 in November: one day holds it all.
    page = admin.get(f"/hq/analytics?{query}")
    assert page.status_code == 200, page.text
    assert "live" in page.text

    def table(name: str) -> list[dict[str, str]]:
        answer = admin.get(f"/hq/analytics.csv?table={name}&{query}")
        assert answer.status_code == 200, answer.text
        return list(csv.DictReader(io.StringIO(answer.text)))

    [s01] = table("stores")
    assert int(s01["net_sales"]) == sold - refunded
    assert int(s01["sales"]) == 2
    assert s01["units"] == "5"  # 3 + 2 + 1 sold, 1 back
    [returned] = table("returns")
    assert (returned["reason"], returned["units"]) == ("wrong_size", "1")
    top = table("top")
    assert [r["sku"] for r in top] == ["TEE-M-RED", "MUG-1"]
    assert [r["units"] for r in top] == ["3", "2"]
    # Margin: the small catalog's costs.
    costs = dict(
        pg.execute("SELECT sku, cost FROM catalog_variant WHERE sku IN ('TEE-M-RED', 'MUG-1')")
    )
    assert int(s01["cost"]) == 3 * costs["TEE-M-RED"] + 2 * costs["MUG-1"]
    [cash] = table("cash_stores")
    assert int(cash["net"]) == over_short
    assert int(cash["shifts"]) == 1
