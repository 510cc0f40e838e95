"""The audit pages in real Chromium against waitress and the real PostgreSQL: from the overview
to a count's variance, an alert resolved with a note, a dead letter's payload; axe-core finds
no serious violation on the overview, the count variances, the alerts (with a refused note)
and a dead letter (TILLBOX_SCREENSHOTS=folder saves hq-audit-counts.png there)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.hq.conftest import PASSWORDS, Hq, HqServer
from tests.hq.test_audit import chain
from tests.pwa.test_accessibility import AXE, serious_violations

__all__ = ["chain"]  # a fixture, imported for this module's test


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP (checked in test_accounts)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_audit_pages_in_chromium_with_axe(
    hq: Hq, hq_server: HqServer, axe_page: Page, chain: Any
) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    _, made = chain
    page = axe_page
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{hq_server.url}/hq/audit")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Audit")).to_be_visible()
    expect(page.locator('tr[data-list="journal"]')).to_contain_text("1 with a break")
    found["overview"] = serious_violations(page)

    # Count variances: s01's count is one short, worth one tee at cost; its lines.
    page.get_by_role("link", name="Count variances").first.click()
    expect(page.get_by_role("heading", name="Count variances")).to_be_visible()
    row = page.locator(f'tr[data-count="{made["count"]}"]')
    expect(row).to_contain_text("-4.50")
    page.get_by_label("Store").select_option("s01")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#variance-groups")).to_contain_text("Apparel")
    found["counts"] = serious_violations(page)
    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / "hq-audit-counts.png"), full_page=True)
    row.get_by_role("link").click()
    expect(page.locator('tr[data-sku="TEE-M-RED"]')).to_contain_text("8")

    # Alerts: a note is needed; then the chain break is resolved and leaves the open list.
    page.get_by_role("link", name="Alerts").first.click()
    broken = page.locator("tr[data-alert]", has_text="chain_broken")
    expect(broken).to_have_count(1)
    broken.get_by_role("button", name="Resolve").click()
    expect(page.locator(".error").first).to_contain_text("say what was done about it")
    found["alerts refused"] = serious_violations(page)
    broken = page.locator("tr[data-alert]", has_text="chain_broken")
    broken.get_by_label("Resolution note").fill("register restored from backup")
    broken.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(r"Alert \d+ \(chain_broken\) resolved")
    )
    expect(page.locator("tr[data-alert]", has_text="chain_broken")).to_have_count(0)
    page.get_by_label("State").select_option("resolved")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-alert]", has_text="chain_broken")).to_contain_text(
        "register restored from backup"
    )

    # A dead letter: its payload as text, escaped, never run.
    page.get_by_role("link", name="Dead letters").first.click()
    page.locator("tr[data-letter]", has_text="s01").get_by_role("link").click()
    expect(page.locator("#raw-text")).to_contain_text("<script>alert(1)</script>")
    found["dead letter"] = serious_violations(page)
    assert {name: v for name, v in found.items() if v} == {}
