"""An edit in HQ's catalog editor reaches a real store appliance through the real pull: HQ
(PostgreSQL) -> the catalog responder's retained head on a real Mosquitto -> the appliance's
uplink asks for the changes and applies them -> the appliance's admin pages show the version
live -> its status goes up through the real ingest worker -> HQ shows that s01 runs it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance.settings import Settings
from appliance.sync.catalog_pull import read_state
from appliance.sync.uplink import Uplink
from cloud.catalog_rpc import CatalogResponder
from cloud.worker import BrokerSettings
from tests.appliance.admin.conftest import AdminBrowser
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import broker, worker
from tests.cloud.test_worker import FAST
from tests.conftest import Store, make_settings
from tests.hq.catalog_forms import form_fields, rows_by_sku
from tests.hq.conftest import Hq, make_hq

__all__ = ["broker", "worker"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store (s01), syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


@pytest.fixture
def catalog_responder(cloud_dsn: str, broker: Broker) -> Iterator[CatalogResponder]:
    running = CatalogResponder(
        cloud_dsn, BrokerSettings(port=broker.port), name="t", poll_s=0.2
    ).start()
    assert running.wait_subscribed()
    yield running
    running.stop()


@pytest.fixture
def appliance(store: Store) -> Iterator[Uplink]:
    """s01's uplink on the app's own runtime (an empty catalog: all of it comes from HQ)."""
    running = Uplink(store.rt)
    running.start()
    wait_for(lambda: store.rt.link.connected, what="the uplink's connection")
    yield running
    running.stop()


def _admin(store: Store) -> AdminBrowser:
    client = store.client.application.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.30"
    return AdminBrowser(client=client, store=store).sign_in("manager")


def _reported(hq: Hq, version: int) -> bool:
    rows = hq.query("SELECT catalog_version FROM appliance_status WHERE store = 's01'")
    return rows == [(version,)]


def test_an_hq_edit_reaches_the_store_and_hq_sees_the_store_run_it(
    store: Store,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    catalog_responder: CatalogResponder,
    appliance: Uplink,
) -> None:
    hq = make_hq(cloud_dsn)
    buyer = hq.browser().sign_in("buyer")
    rt = store.rt

    # A buyer makes a product with the option matrix (2 sizes) and a barcode, and saves.
    fields = form_fields(buyer.get("/hq/catalog/products/new").text, "/hq/catalog/products")
    fields.update(
        name="Rain Jacket",
        category="Outerwear",
        vendor="Northwind",
        matrix="Size: M, L",
        sku_prefix="JKT",
        matrix_price="59.00",
        matrix_cost="21.00",
        action="matrix",
    )
    shown = buyer.post("/hq/catalog/products", fields)
    assert list(rows_by_sku(shown.text)) == ["JKT-M", "JKT-L"]
    fields = form_fields(shown.text, "/hq/catalog/products")
    fields.update(v0_barcodes="4006381333931", action="save")
    saved = buyer.post("/hq/catalog/products", fields)
    assert saved.status_code == 303, saved.text
    first = int(hq.query("SELECT max(change_seq) FROM catalog_variant")[0][0])

    # The appliance pulls it over MQTT and sells it at HQ's price.
    wait_for(
        lambda: read_state(rt).version == first, timeout=20, what="the pull of the new product"
    )
    found = store.client.get(
        "/api/v1/catalog/barcodes/4006381333931", headers=store.bearer(store.device)
    )
    assert found.status_code == 200, found.get_json()
    jacket = found.get_json()
    assert (jacket["sku"], jacket["price"], jacket["category"]) == ("JKT-M", 5900, "Outerwear")
    assert jacket["title"] == "Rain Jacket — M"

    # The store's admin pages show the version live.
    admin = _admin(store)
    sync_page = admin.get("/admin/sync").text
    assert f'data-testid="sync-catalog">version {first}<' in sync_page
    assert "up to date" in sync_page and "last change applied" in sync_page
    dashboard = admin.get("/admin/").text
    assert f"head office version {first} live" in dashboard

    # Its status goes up through the ingest worker, and HQ shows s01 running that version.
    wait_for(lambda: _reported(hq, first), timeout=20, what="s01's reported catalog version")
    page = buyer.get("/hq/catalog").text
    s01 = page.split('<tr data-store="s01">')[1].split("</tr>")[0]
    assert f">{first}<" in s01 and "up to date" in s01

    # A second edit (a new price) and s01's manager's own price for the large one.
    product = saved.headers["Location"].rsplit("/", 1)[1]
    fields = form_fields(
        buyer.get(f"/hq/catalog/products/{product}").text, f"/hq/catalog/products/{product}"
    )
    fields["v0_price"] = "49.00"
    assert buyer.post(f"/hq/catalog/products/{product}", fields).status_code == 303
    large = hq.query("SELECT id FROM catalog_variant WHERE sku = 'JKT-L'")[0][0]
    manager = hq.browser("192.0.2.20").sign_in("manager")
    priced = manager.post(
        "/hq/catalog/prices", {"store": "s01", "variant": str(large), "price": "55.00"}
    )
    assert priced.status_code == 303, priced.text
    with psycopg.connect(cloud_dsn) as conn:
        latest = int(conn.execute("SELECT max(change_seq) FROM catalog_store_price").fetchone()[0])  # type: ignore[index]
    assert latest > first
    wait_for(lambda: read_state(rt).version == latest, timeout=20, what="the second edit")
    assert (
        store.client.get(
            "/api/v1/catalog/barcodes/4006381333931", headers=store.bearer(store.device)
        ).get_json()["price"]
        == 4900
    )
    prices = store.client.get(
        "/api/v1/catalog/search?q=jacket&limit=5", headers=store.bearer(store.device)
    ).get_json()
    assert {v["sku"]: v["price"] for v in prices["variants"]} == {"JKT-M": 4900, "JKT-L": 5500}
    assert f'data-testid="sync-catalog">version {latest}<' in admin.get("/admin/sync").text
    wait_for(lambda: _reported(hq, latest), timeout=20, what="the new version reported")
    # Store s02 has no appliance here: HQ says so rather than guessing.
    page = buyer.get("/hq/catalog").text
    assert "not reported" in page.split('<tr data-store="s02">')[1].split("</tr>")[0]
