"""The Fleet page shows each store's catalog version over real sync: HQ's catalog (PostgreSQL)
-> the catalog responder on a real Mosquitto -> s01's appliance pulls and applies it -> its
status goes up through the real ingest worker -> the fleet says s01 is up to date, then how
far behind it is once HQ changes the catalog while the appliance is away."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance.settings import Settings
from appliance.sync.catalog_pull import read_state
from appliance.sync.uplink import Uplink
from cloud.catalog import head_version, import_csv
from cloud.catalog_rpc import CatalogResponder
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import broker, worker
from tests.cloud.test_worker import FAST
from tests.conftest import Store, make_settings
from tests.hq.conftest import make_hq
from tests.hq.test_catalog_sync import appliance, catalog_responder

__all__ = ["appliance", "broker", "catalog_responder", "worker"]  # fixtures
Conn = psycopg.Connection[Any]

_HEADER = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,"
    "reorder_point,reorder_qty,pack_size,active\r\n"
)


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store (s01), syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


def _cell(html: str, store: str) -> str:
    """The fleet row's catalog cell for `store`, whitespace squeezed, tags dropped."""
    match = re.search(rf'data-testid="catalog-{store}">(.*?)</td>', html, re.S)
    assert match, f"no catalog cell for {store}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def _import(dsn: str, rows: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert import_csv(conn, (_HEADER + rows).encode()).applied
        return head_version(conn)


def test_fleet_shows_each_stores_catalog_version_through_real_sync(
    store: Store,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    catalog_responder: CatalogResponder,
    appliance: Uplink,
) -> None:
    hq = make_hq(cloud_dsn)
    first = _import(
        cloud_dsn,
        "TEA-1,Green Tea,,,Food,Leaf,1.00,2.50,standard,2,10,1,1\r\n"
        "TEA-2,Black Tea,,,Food,Leaf,1.00,2.00,standard,2,10,1,1\r\n",
    )
    wait_for(lambda: read_state(store.rt).version == first, timeout=20, what="s01's pull")
    wait_for(
        lambda: (
            hq.query("SELECT catalog_version FROM appliance_status WHERE store = 's01'")
            == [(first,)]
        ),
        timeout=20,
        what="s01's reported catalog version",
    )
    admin = hq.browser().sign_in("admin")
    page = admin.get("/hq/fleet")
    assert page.status_code == 200, page.text
    assert _cell(page.text, "s01").startswith(f"version {first} up to date applied ")
    assert _cell(page.text, "s02") == "not reported"  # no appliance: said, not guessed

    # The appliance goes away; HQ changes two prices meanwhile: s01 is behind by what it lacks.
    appliance.stop()
    later = _import(
        cloud_dsn,
        "TEA-1,Green Tea,,,Food,Leaf,1.00,2.75,standard,2,10,1,1\r\n"
        "TEA-2,Black Tea,,,Food,Leaf,1.00,2.25,standard,2,10,1,1\r\n",
    )
    assert later > first
    cell = _cell(admin.get("/hq/fleet").text, "s01")
    assert cell.startswith(f"version {first} {later - first} behind"), cell
    assert f"now {later}" in admin.get("/hq/fleet").text

    # A store manager sees their own store only.
    manager = hq.browser("192.0.2.20").sign_in("manager")
    mine = manager.get("/hq/fleet").text
    assert 'data-testid="catalog-s01"' in mine and 'data-testid="catalog-s02"' not in mine
