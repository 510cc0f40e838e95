"""The Stock and Fleet pages over data that arrived through sync: on-hand by SKU across the
stores' own variant ids, days of cover from trailing sales, freshness per store, filters,
paging, scope, CSV (formula-safe), and bad filters refused in the one error shape."""

from __future__ import annotations

import csv
import io
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
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import (
    broker,
    responder,
    synced,
    uid,
    uplink,
    worker,
)
from tests.appliance.till import Item
from tests.cloud.test_worker import FAST
from tests.conftest import SMALL_CATALOG, FakeWall, Store, make_settings
from tests.hq.conftest import Hq, make_hq, setup_grid

__all__ = ["broker", "responder", "uplink", "worker"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store (s01), syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


def _rows(html: str) -> dict[str, str]:
    """Each grid row's text by SKU, whitespace squeezed."""
    import re

    rows = re.findall(r'<tr data-sku="([^"]+)">(.*?)</tr>', html, re.S)
    return {sku: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for sku, body in rows}


def test_appliance_to_hq_stock_and_fleet_through_real_sync(
    store: Store,
    catalog: Runtime,
    wall: FakeWall,
    pg: Conn,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
    uplink: Uplink,
) -> None:
    """s01 receives 5 red tees and sells 2 on its register; the events go over MQTT to the
    ingest worker, and HQ's grid shows 3 on hand, 42 days of cover (2 sold in 28 days), s01
    live; the fleet shows the appliance online with its outbox empty."""
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    rt = store.rt
    till = make_till(store, wall, "manager")
    tee = uid(rt, "TEE-M-RED")
    assert till.send("stock.received", {"lines": [{"variant": tee, "qty": 5}]}).status_code == 200
    sold = till.send("sale.completed", till.sale_body([Item(tee, 2, 1299)]))
    assert sold.status_code == 200, sold.get_json()
    synced(rt)
    wait_for(
        lambda: (
            pg.execute("SELECT count(*) FROM store_variant WHERE store = 's01'").fetchone() == (4,)
        ),
        timeout=20,
        what="s01's variant ids in the cloud",
    )
    wait_for(
        lambda: (
            pg.execute("SELECT online FROM appliance_status WHERE store = 's01'").fetchone()
            == (True,)
        ),
        timeout=20,
        what="s01's status",
    )
    hq = make_hq(cloud_dsn)
    admin = hq.browser().sign_in("admin")
    page = admin.get("/hq/stock?store=s01")
    assert page.status_code == 200, page.text
    rows = _rows(page.text)
    assert "TEE-M-RED" in rows
    assert " 3 42 d cover " in f" {rows['TEE-M-RED']} ", rows["TEE-M-RED"]
    # s01 knows the large tee (its own id for it came up) but never moved it: 0, not "—".
    assert " 0 no recent sales " in f" {rows['TEE-L-RED']} ", rows["TEE-L-RED"]
    assert 'data-store="s01"' in page.text and "live" in page.text
    below = _rows(admin.get("/hq/stock?store=s01&below=1").text)
    assert set(below) == {"TEE-M-RED", "TEE-L-RED"}  # 3 and 0 ≤ 5; the mug has no point
    fleet = admin.get("/hq/fleet").text
    s01 = fleet.split('data-store="s01"')[1].split("</tr>")[0]
    assert "online" in s01 and "never heard" not in s01
    assert "s ago" in s01  # its last event, just now


def test_grid_filters_paging_scope_freshness_and_csv(hq: Hq) -> None:
    setup_grid(hq)
    admin = hq.browser().sign_in("admin")
    page = admin.get("/hq/stock")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert len(rows) == 10 and "12 item(s)" in page.text and "Page 1 of 2" in page.text
    # By product name, page by page: every item once.
    second = _rows(admin.get("/hq/stock?page=2").text)
    assert len(second) == 2 and not set(second) & set(rows)
    assert len(set(rows) | set(second)) == 12
    # Each store's own id for the SKU: s01 has 4, s02 9, 13 in all; a sock is "—" (unreported).
    tee = _rows(admin.get("/hq/stock?q=tee").text)["TEE-M-RED"]
    assert " 4 no recent sales 9 no recent sales 13 " in f" {tee} ", tee
    assert "—" in rows.get("SOCK-01", second.get("SOCK-01", ""))
    # Filters: vendor and category, by their ids.
    with psycopg.connect(hq.dsn) as conn:
        potters = conn.execute("SELECT id FROM catalog_vendor WHERE name = 'Potters'").fetchone()[0]
        apparel = conn.execute("SELECT id FROM catalog_category WHERE name = 'Apparel'").fetchone()[
            0
        ]
    assert set(_rows(admin.get(f"/hq/stock?vendor={potters}").text)) == {"FORM-1"}
    assert len(_rows(admin.get(f"/hq/stock?category={apparel}&page=2").text)) == 1
    assert set(_rows(admin.get("/hq/stock?q=tee").text)) == {"TEE-M-RED"}
    # Below reorder point: s01's 4 ≤ 5, s02's 9 is not.
    assert set(_rows(admin.get("/hq/stock?below=1&store=s01").text)) == {"TEE-M-RED"}
    assert set(_rows(admin.get("/hq/stock?below=1&store=s02").text)) == set()
    # Freshness: s02's last event an hour ago is stale, s01's is live.
    hq.query("UPDATE event SET received_at = now() - interval '1 hour' WHERE store = 's02'")
    page = admin.get("/hq/stock?q=tee").text
    s01_head = page.split('class="store-col" data-store="s01"')[1].split("</th>")[0]
    s02_head = page.split('class="store-col" data-store="s02"')[1].split("</th>")[0]
    assert "live" in s01_head and "stale" in s02_head and "1 h ago" in s02_head
    # The store manager (s01) sees only s01's column, and may not ask for s02.
    manager = hq.browser("192.0.2.20").sign_in("manager")
    mine = manager.get("/hq/stock?q=tee").text
    assert 'data-store="s01"' in mine and 'data-store="s02"' not in mine
    refused = manager.get("/hq/stock?store=s02", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.get_json()["error"] == "store_out_of_scope"
    # CSV: every matching row, numbers as numbers, a formula-like name made harmless.
    exported = admin.get("/hq/stock.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0][:6] == ["sku", "product", "options", "category", "vendor", "reorder_point"]
    assert "s01 on_hand" in table[0] and "s02 on_hand" in table[0] and table[0][-1] == "in_transit"
    assert len(table) == 13
    by_sku = {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert by_sku["FORM-1"]["product"] == '\'=HYPERLINK("http://x")'
    assert by_sku["TEE-M-RED"]["s01 on_hand"] == "4"
    assert by_sku["TEE-M-RED"]["s02 on_hand"] == "9"
    assert by_sku["TEE-M-RED"]["total on_hand"] == "13"
    assert by_sku["SOCK-00"]["s01 on_hand"] == ""
    filtered = list(csv.reader(io.StringIO(admin.get(f"/hq/stock.csv?vendor={potters}").text)))
    assert [r[0] for r in filtered[1:]] == ["FORM-1"]


def test_days_of_cover_comes_from_trailing_sales(hq: Hq) -> None:
    ids = setup_grid(hq)
    # 14 sold by s01 in the last 28 days (and 100 long before, which do not count).
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        event = conn.execute("SELECT id FROM event WHERE store = 's01' LIMIT 1").fetchone()[0]
        for line, (qty, age) in enumerate([(10, "2 days"), (4, "20 days"), (100, "60 days")]):
            conn.execute(
                "INSERT INTO sale_fact (event, line, kind, store, register, receipt, at, variant,"
                " qty, net, tax, discount) VALUES (%s, %s, 'sale', 's01', 's01-r01', 'R1',"
                " now() - %s::interval, %s, %s, 0, 0, 0)",
                (event, 100 + line, age, ids["s01"], qty),
            )
    admin = hq.browser().sign_in("admin")
    row = _rows(admin.get("/hq/stock?q=tee&store=s01").text)["TEE-M-RED"]
    # 4 on hand at 14 / 28 = 0.5 a day: 8 days.
    assert " 4 8 d cover " in f" {row} ", row


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=abc", "category=-1", "vendor=1.5", "below=yes", "q=" + "x" * 101],
)
def test_bad_filters_are_422_in_the_one_shape(hq: Hq, query: str) -> None:
    admin = hq.browser().sign_in("admin")
    answer = admin.get(f"/hq/stock?{query}", headers={"Accept": "application/json"})
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_filter"
    assert set(answer.get_json()) == {"error", "message", "details"}
    page = admin.get(f"/hq/stock.csv?{query}")
    assert page.status_code == 422 and page.mimetype == "text/html"  # a page, not a CSV


def test_an_unknown_store_is_404_for_admins_and_403_for_a_manager(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    assert admin.get("/hq/fleet?store=zz9").status_code == 404
    manager = hq.browser("192.0.2.30").sign_in("manager")
    assert manager.get("/hq/fleet?store=zz9").status_code == 403


def test_fleet_shows_status_will_and_printers(hq: Hq) -> None:
    from cloud.worker import record_status

    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        record_status(
            conn,
            "s01",
            b'{"online": true, "version": "1.4.2", "outbox_depth": 7,'
            b' "oldest_unsynced_age_s": 95, "printer": {"printers": [{"name": "Front",'
            b' "connection": "usb", "online": true, "paper_out": true, "cover_open": false,'
            b' "queued": 2}], "trouble": true}}',
        )
        # s02's Will: offline, keeping what it said before.
        record_status(conn, "s02", b'{"online": true, "version": "1.4.1", "outbox_depth": 0}')
        record_status(conn, "s02", b'{"online": false}')
        conn.execute(
            "INSERT INTO alert (kind, store) VALUES ('journal_break', 's01'), ('x', 's01')"
        )
        conn.execute("INSERT INTO alert (kind, store, resolved_at) VALUES ('old', 's01', now())")
    admin = hq.browser().sign_in("admin")
    fleet = admin.get("/hq/fleet").text
    s01 = fleet.split('data-store="s01"')[1].split("</tr>")[0]
    s02 = fleet.split('data-store="s02"')[1].split("</tr>")[0]
    assert "online" in s01 and "1.4.2" in s01 and ">7<" in s01 and "1 min" in s01
    assert "Front: paper out, 2 waiting" in s01 and "trouble" in s01
    assert "<td>2</td>" in s01  # open alerts; the resolved one is not counted
    assert "offline" in s02 and "1.4.1" in s02 and "last online" in s02
    # Said online, then nothing for longer than a heartbeat allows: "no word".
    hq.query(
        "UPDATE appliance_status SET received_at = now() - interval '10 minutes'"
        " WHERE store = 's01'"
    )
    assert "no word" in admin.get("/hq/fleet?store=s01").text
