"""The Reorder page in real Chromium against waitress and the real PostgreSQL, over trading
ingested as real batches: the report, a transfer asked for from it, a draft purchase order
edited (a refused quantity shown by its field) and sent, the dashboard's low-stock panel; axe
on each (TILLBOX_SCREENSHOTS=folder saves hq-reorder.png there)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.hq.conftest import PASSWORDS, Hq, HqServer
from tests.hq.test_reorder_page import AS_OF, seed
from tests.pwa.test_accessibility import AXE, serious_violations


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP (checked in test_accounts)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_reorder_report_transfer_and_purchase_order_in_chromium(
    hq: Hq, hq_server: HqServer, page: Page
) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        seed(conn)
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{hq_server.url}/hq/login")
    page.get_by_label("Username").fill("buyer")
    page.get_by_label("Password").fill(PASSWORDS["buyer"])
    page.get_by_role("button", name="Sign in").click()

    # The dashboard's panel links s01's low tees to the report for s01.
    expect(page.locator('.low-stock[data-store="s01"]')).to_contain_text("TEE-1")
    found["dashboard"] = serious_violations(page)
    page.get_by_role("link", name="Reorder", exact=True).click()
    expect(page.get_by_role("heading", name="Reorder", exact=True)).to_be_visible()
    page.get_by_label("As of").fill(AS_OF.isoformat())
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator('tr[data-transfer="s02-s01-TEE-1"]')).to_be_visible()
    expect(page.locator('section[data-group="Weaver"] tr[data-why="s01-CAP-1"]')).to_contain_text(
        "min order 12"
    )
    expect(page.locator('section[data-group="Potter"]')).to_contain_text("MUG-1")
    found["reorder"] = serious_violations(page)
    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / "hq-reorder.png"), full_page=True)

    # By category, everything.
    page.get_by_label("Group by").select_option("category")
    page.get_by_label("Lines shown").select_option("all")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator('section[data-group="Apparel"] tr[data-line="s02-TEE-1"]')).to_be_visible()
    found["reorder by category"] = serious_violations(page)

    # Draft Weaver's order, refuse a part pack, save whole packs, mark it sent.
    page.get_by_label("Group by").select_option("vendor")
    page.get_by_label("Lines shown").select_option("order")
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_role("button", name="Draft purchase order for Weaver").click()
    expect(page).to_have_url(re.compile(r"/hq/reorder/orders/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("Draft purchase order")
    quantity = page.get_by_label("Quantity of CAP-1 for s01")
    quantity.fill("13")
    page.get_by_role("button", name="Save quantities").click()
    expect(page.locator(".error")).to_contain_text("packs of 6")
    expect(page.get_by_label("Quantity of CAP-1 for s01")).to_have_attribute("aria-invalid", "true")
    found["order refused"] = serious_violations(page)
    page.get_by_label("Quantity of CAP-1 for s01").fill("24")
    page.get_by_role("button", name="Save quantities").click()
    expect(page.get_by_role("status")).to_contain_text("1 line(s) changed")
    found["order"] = serious_violations(page)
    page.get_by_role("button", name="Mark sent").click()
    expect(page.locator("[data-state]")).to_have_text("sent")
    expect(page.get_by_role("button", name="Mark received")).to_be_visible()
    page.get_by_role("link", name="Printable page").click()
    expect(page.get_by_role("heading", name=re.compile("Purchase order"))).to_be_visible()
    found["print"] = serious_violations(page)
    page.go_back()
    page.get_by_role("link", name="All orders").click()
    expect(page.locator("tr[data-order]")).to_have_count(1)
    found["orders"] = serious_violations(page)

    # The transfer the report suggests, asked for from the report.
    page.goto(f"{hq_server.url}/hq/reorder?as_of={AS_OF}")
    page.get_by_role("button", name=re.compile(r"Request transfer s02 → s01")).click()
    expect(page).to_have_url(re.compile(r"/hq/transfers/[0-9a-f-]+$"))
    expect(page.get_by_role("status")).to_contain_text("Asked s02 to send 1 line(s) to s01")
    assert {name: v for name, v in found.items() if v} == {}
