"""The Transfers pages in real Chromium against waitress and the real PostgreSQL: a buyer asks
for a transfer (a bad line shown by its field first), approves it, sees it in the list with
the filters, and a shipment from the store's events shows in transit on the stock grid.
axe-core finds nothing serious on the list and the detail (TILLBOX_SCREENSHOTS=folder saves
hq-transfer.png there)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from cloud.ingest import ingest_batch
from tests.cloud.batches import batch, offline_till
from tests.hq.conftest import PASSWORDS, Hq, HqServer, setup_grid
from tests.pwa.test_accessibility import serious_violations


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # axe is injected, so this context bypasses the pages' CSP (checked in test_accounts).
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_ask_approve_and_follow_a_transfer(hq: Hq, hq_server: HqServer, page: Page) -> None:
    ids = setup_grid(hq)
    page.goto(f"{hq_server.url}/hq/transfers")
    page.get_by_label("Username").fill("buyer")
    page.get_by_label("Password").fill(PASSWORDS["buyer"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Transfers")).to_be_visible()
    expect(page.get_by_text("No transfers match these filters.")).to_be_visible()
    assert serious_violations(page) == []

    page.get_by_label("From (sends)").select_option("s01")
    page.get_by_label("To (receives)").select_option("s02")
    page.get_by_label(re.compile("Items: one SKU and quantity")).fill("TEE-M-RED 3\nNOPE 1")
    page.get_by_role("button", name="Ask for it").click()
    expect(page.locator("#new-lines-error")).to_have_text("not in the catalog: NOPE")
    assert serious_violations(page) == []
    page.get_by_label(re.compile("Items: one SKU and quantity")).fill("TEE-M-RED 3")
    page.get_by_role("button", name="Ask for it").click()
    expect(page.get_by_role("status")).to_contain_text("Asked s01 to send 1 line(s) to s02")
    expect(page.get_by_role("heading", name="Transfer s01 → s02")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-state]")).to_have_text("approved")
    transfer = page.url.rsplit("/", 1)[1]

    # s01 ships 3 (its event, ingested): in transit on the detail and on the stock grid.
    till = offline_till("s01", "s01-r09")
    till.wall.ms = int(time.time() * 1000) - 3_600_000  # shipped an hour ago
    shipped = till.event(
        "transfer.shipped",
        {"transfer": transfer, "to_store": "s02", "lines": [{"variant": ids["s01"], "qty": 3}]},
    )
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert ingest_batch(conn, "s01", batch(2, [shipped])) == {"applied_through": 2}
    page.reload()
    expect(page.locator("[data-state]")).to_have_text("shipped")
    expect(page.locator('tr[data-sku="TEE-M-RED"]')).to_contain_text("3")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Stock").click()
    expect(page.locator('tr[data-sku="TEE-M-RED"] td[data-store="s02"]')).to_contain_text(
        "+3 in transit"
    )

    page.get_by_role("link", name="Transfers").click()
    page.get_by_label("State").select_option("shipped")
    page.get_by_label("Direction").select_option("in")
    page.locator('select[name="store"]').select_option("s02")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-transfer]")).to_have_count(1)
    page.get_by_label("Direction").select_option("out")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-transfer]")).to_have_count(0)

    # s02 receives 2 of the 3, with a reason: received, the difference shown with it.
    there = offline_till("s02", "s02-r09")
    there.wall.ms = int(time.time() * 1000) - 600_000
    arrived = there.event(
        "transfer.received",
        {
            "transfer": transfer,
            "from_store": "s01",
            "lines": [{"variant": ids["s02"], "qty": 2}],
            "reason": "one torn in the van",
        },
    )
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert ingest_batch(conn, "s02", batch(2, [arrived])) == {"applied_through": 2}
    page.goto(f"{hq_server.url}/hq/transfers/{transfer}")
    expect(page.locator("[data-state]")).to_have_text("received")
    expect(page.locator('tr[data-sku="TEE-M-RED"] td').last).to_have_text("-1")
    expect(page.locator("[data-reason]")).to_have_text("one torn in the van")
    assert serious_violations(page) == []
    if folder := os.environ.get("TILLBOX_SCREENSHOTS"):
        page.screenshot(path=str(Path(folder) / "hq-transfer.png"), full_page=True)
