"""Transfers waiting, on HQ's dashboard and on each store's admin overview, through real sync
(two appliances on a private Mosquitto, the ingest worker and the store responder on the real
PostgreSQL): HQ asks for transfers and approves some, the stores pull them, s02 ships one to
s01; HQ's dashboard counts what waits on each store in the user's scope and links to the
Transfers page filtered to those, and each store's overview counts what it has to approve, to
ship and to receive."""

from __future__ import annotations

import re
import subprocess
from html import unescape
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from appliance import transfers as store_transfers
from appliance.runtime import Runtime
from cloud import transfers as domain
from cloud.catalog import import_csv
from cloud.hq import create_app
from cloud.store_rpc import StoreResponder
from cloud.worker import record_status
from tests.appliance.sync.mqtt_fakes import wait_for
from tests.appliance.sync.test_chain import broker, responder, synced, worker
from tests.conftest import SMALL_CATALOG, Store
from tests.hq.conftest import (
    PASSWORDS,
    Hq,
    HqBrowser,
    HqServer,
    fast_settings,
    seed_users,
    setup_grid,
)
from tests.hq.test_hq_browser import axe_page
from tests.hq.test_transfers_sync import _admin, _state, _uplink, second, settings
from tests.pwa.test_accessibility import AXE, serious_violations

__all__ = ["axe_page", "broker", "responder", "second", "settings", "worker"]  # fixtures
Conn = psycopg.Connection[Any]


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _row(html: str, store: str) -> str | None:
    section = html.split('id="transfers-waiting"')[1].split("</section>")[0]
    match = re.search(rf'<tr data-store="{store}">(.*?)</tr>', section, re.S)
    return None if match is None else match.group(1)


def _links(row: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', row)]


def _overview(store: Store) -> dict[str, str]:
    page = _admin(store, "supervisor").get("/admin/").text
    return dict(re.findall(r'data-testid="(transfers-[a-z-]+)">([^<]*)<', page))


def _waits(rt: Runtime) -> tuple[int, int, int]:
    w = store_transfers.waiting(rt)
    return (w.to_approve, w.to_ship, w.to_receive)


def test_transfers_waiting_on_the_dashboards_through_real_sync(
    store: Store,
    catalog: Runtime,
    second: Store,
    pg: Conn,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
) -> None:
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    hq = create_app(fast_settings(cloud_dsn))
    seed_users(cloud_dsn, hq.extensions["tillbox_hq_passwords"])
    admin = HqBrowser(client=hq.test_client()).sign_in("admin")
    s01, s02 = store.rt, second.rt
    link1, link2 = _uplink(s01), _uplink(s02)
    try:
        empty = admin.get("/hq/").text
        assert "No transfer is waiting on your stores." in empty
        # HQ asks: s01 -> s02 twice (one approved at HQ), s02 -> s01 twice (one approved).
        with psycopg.connect(cloud_dsn, autocommit=True) as conn:

            def ask(src: str, dst: str, approve: bool) -> str:
                made = domain.create(
                    conn, from_store=src, to_store=dst, lines=[("MUG-1", 1)], note=None, by="t"
                )
                if approve:
                    domain.approve(conn, made, by="t")
                return made

            ask_s01 = ask("s01", "s02", approve=False)
            ship_s01 = ask("s01", "s02", approve=True)
            ask_s02 = ask("s02", "s01", approve=False)
            to_s01 = ask("s02", "s01", approve=True)

        # The stores pull them: s01 has one to approve and one to ship.
        wait_for(lambda: _waits(s01) == (1, 1, 0), timeout=20, what="s01's pulled transfers")
        wait_for(lambda: _waits(s02) == (1, 1, 0), timeout=20, what="s02's pulled transfers")
        tiles = _overview(store)
        assert tiles == {
            "transfers-waiting": "2",
            "transfers-to-approve": "1 to approve",
            "transfers-to-ship": "1 to ship",
            "transfers-to-receive": "0 to receive",
        }, tiles

        # s02 ships its approved one to s01 (a delivery first, so it has the mugs).
        m2 = _admin(second, "manager")
        assert m2.post("/admin/stock/deliveries", {"lines": "MUG-1 5"}).status_code == 303
        shipped = _admin(second, "supervisor").post(
            f"/admin/transfers/{to_s01}/ship", {"qty-MUG-1": "1"}
        )
        assert shipped.status_code == 303, shipped.text[:500]
        assert _waits(s02) == (1, 0, 0)  # at once, offline or not
        synced(s02)
        wait_for(lambda: _state(pg, to_s01) == "shipped", timeout=20, what="the shipment")
        wait_for(lambda: _waits(s01) == (1, 1, 1), timeout=20, what="s01 hearing of it")
        assert _overview(store)["transfers-to-receive"] == "1 to receive"
        assert _overview(store)["transfers-waiting"] == "3"

        # HQ: s01 has one to approve, one to ship and one on its way to it; s02 one to approve.
        page = admin.get("/hq/").text
        row1, row2 = _row(page, "s01"), _row(page, "s02")
        assert row1 is not None and row2 is not None
        assert _text(row1) == "Dublin (s01) 1 1 1", _text(row1)
        assert _text(row2) == "Cork (s02) 1 0 0", _text(row2)
        assert "2 to approve, 1 to ship, 1 in transit" in _text(page)
        approve_link, ship_link, transit_link = _links(row1)
        assert approve_link == "/hq/transfers?store=s01&state=requested&direction=out"
        for link, expected in (
            (approve_link, ask_s01),
            (ship_link, ship_s01),
            (transit_link, to_s01),
            (_links(row2)[0], ask_s02),
        ):
            listed = admin.get(link)
            assert listed.status_code == 200, (link, listed.text[:300])
            found = set(re.findall(r'data-transfer="([^"]+)"', listed.text))
            assert found == {expected}, (link, found)

        # A store manager (s01) sees s01's row only, and the totals for s01.
        manager = HqBrowser(client=hq.test_client()).sign_in("manager")
        mine = manager.get("/hq/").text
        assert _row(mine, "s01") is not None and _row(mine, "s02") is None
        assert "1 to approve, 1 to ship, 1 in transit" in _text(mine)
        assert manager.get(approve_link).status_code == 200
    finally:
        link1.stop()
        link2.stop()


def test_dashboard_transfers_and_fleet_catalog_pass_axe_in_chromium(
    hq: Hq, hq_server: HqServer, axe_page: Page
) -> None:
    """The dashboard's transfers table (with links) and the fleet's catalog column, in
    Chromium: a manager follows the to-approve link; axe finds nothing serious."""
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    setup_grid(hq)
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        asked = domain.create(
            conn, from_store="s01", to_store="s02", lines=[("TEE-M-RED", 2)], note=None, by="t"
        )
        record_status(conn, "s01", b'{"online": true, "version": "1.4.2", "catalog_version": 1}')
    page = axe_page
    page.goto(f"{hq_server.url}/hq/login")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill(PASSWORDS["manager"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transfers waiting")).to_be_visible()
    found = {"dashboard": serious_violations(page)}
    page.get_by_role("link", name="1 from s01 to approve").click()
    expect(page).to_have_url(re.compile(r"/hq/transfers\?store=s01&state=requested"))
    expect(page.locator(f'[data-transfer="{asked}"]')).to_have_count(1)
    page.get_by_role("link", name="Fleet").click()
    expect(page.get_by_test_id("catalog-s01")).to_contain_text("version 1")
    found["fleet"] = serious_violations(page)
    assert found == {"dashboard": [], "fleet": []}, found
