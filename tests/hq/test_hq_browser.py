"""HQ in real Chromium against waitress and the real PostgreSQL: sign in, the fleet, and the
stock grid with filters (TILLBOX_SCREENSHOTS=folder saves hq-stock.png there)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from cloud.worker import record_status
from tests.hq.conftest import PASSWORDS, Hq, HqServer, setup_grid
from tests.pwa.test_accessibility import AXE, serious_violations


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


def test_sign_in_fleet_and_stock_grid_with_filters(hq: Hq, hq_server: HqServer, page: Page) -> None:
    setup_grid(hq)
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        conn.execute("UPDATE store SET name = 'Dublin' WHERE id = 's01'")
        record_status(
            conn,
            "s01",
            b'{"online": true, "version": "1.4.2", "outbox_depth": 0,'
            b' "printer": {"printers": [{"name": "Front", "online": true, "queued": 0}],'
            b' "trouble": false}}',
        )
        record_status(conn, "s02", b'{"online": false, "version": "1.4.1"}')
        conn.execute(
            "UPDATE event SET received_at = now() - interval '2 hours' WHERE store = 's02'"
        )

    # A page asked for before signing in comes back after it.
    page.goto(f"{hq_server.url}/hq/stock")
    expect(page).to_have_url(re.compile(r"/hq/login\?next="))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/hq/stock$"))
    expect(page.get_by_role("heading", name="Stock")).to_be_visible()

    # Fleet: s01 online with its printer, s02 offline by its Will and stale.
    page.get_by_role("link", name="Fleet").click()
    s01 = page.locator('tr[data-store="s01"]')
    s02 = page.locator('tr[data-store="s02"]')
    expect(s01).to_contain_text("online")
    expect(s01).to_contain_text("Front: ready")
    expect(s02).to_contain_text("offline")
    expect(s02).to_contain_text("stale")
    # A built page is a link in the navigation (an unbuilt one would be shown disabled).
    expect(page.get_by_role("link", name="Transfers")).to_be_visible()
    expect(page.locator(".tab.disabled", has_text="Transfers")).to_have_count(0)

    # Stock: 12 items over two pages; filter by vendor, then at or below reorder point in s01.
    page.get_by_role("link", name="Stock").click()
    expect(page.get_by_text("12 item(s)")).to_be_visible()
    expect(page.locator("tr[data-sku]")).to_have_count(10)
    page.get_by_label("Vendor").select_option(label="Potters")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-sku]")).to_have_count(1)
    expect(page.locator('tr[data-sku="FORM-1"]')).to_be_visible()
    page.get_by_label("Vendor").select_option(label="Any")
    page.get_by_label("Store").select_option("s01")
    page.get_by_label("At or below reorder point").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-sku]")).to_have_count(1)
    tee = page.locator('tr[data-sku="TEE-M-RED"]')
    expect(tee.locator('td[data-store="s01"]')).to_contain_text("4")
    expect(page.locator('th[data-store="s02"]')).to_have_count(0)

    # Both stores: s02's column says its figures are stale.
    page.get_by_label("Store").select_option("")
    page.get_by_label("At or below reorder point").uncheck()
    page.get_by_label("SKU or name").fill("tee")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator('th[data-store="s02"]')).to_contain_text("stale")
    expect(page.locator('th[data-store="s01"]')).to_contain_text("live")
    expect(tee.locator('td[data-store="s02"]')).to_contain_text("9")

    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder:
        page.get_by_label("SKU or name").fill("")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("tr[data-sku]")).to_have_count(10)
        page.screenshot(path=str(Path(folder) / "hq-stock.png"), full_page=True)

    # Sign out: the pages ask to sign in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/hq/login$"))
    page.goto(f"{hq_server.url}/hq/fleet")
    expect(page).to_have_url(re.compile(r"/hq/login\?next="))


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP (checked in test_accounts)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_every_hq_page_passes_axe(hq: Hq, hq_server: HqServer, axe_page: Page) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    setup_grid(hq)
    page = axe_page
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{hq_server.url}/hq/login")
    found["login"] = serious_violations(page)
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    found["dashboard"] = serious_violations(page)
    for path in ("/hq/stock", "/hq/fleet", "/hq/users", "/hq/account"):
        page.goto(f"{hq_server.url}{path}")
        found[path] = serious_violations(page)
    # A refused form, with its errors by the fields.
    page.goto(f"{hq_server.url}/hq/users")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".error").first).to_contain_text("a username is")
    found["users refused"] = serious_violations(page)
    assert {name: v for name, v in found.items() if v} == {}
