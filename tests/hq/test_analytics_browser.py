"""The Analytics page in real Chromium against waitress and PostgreSQL, over months of three
stores' trading that came in through ingest: the charts draw under the page's CSP from the
tables beside them, filters, a refused filter by its field, axe (TILLBOX_SCREENSHOTS=folder
saves hq-trends.png there)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.hq.analytics_data import days, load, trade
from tests.hq.conftest import PASSWORDS, Hq, HqServer
from tests.pwa.test_accessibility import AXE, serious_violations

STORES = {"s01": "Europe/Dublin", "s02": "Europe/Dublin", "s03": "America/New_York"}
RANGE = "from=2026-09-01&to=2026-12-07&grain=week"
CHARTS = 7  # trend, stores, categories, vendors, season, margin, returns


@pytest.fixture
def months(hq: Hq) -> Hq:
    span = days(date(2025, 8, 25), date(2025, 12, 7)) + days(date(2026, 9, 1), date(2026, 12, 7))
    load(hq.dsn, STORES, trade(STORES, span, seed=3))
    hq.query("UPDATE store SET name = 'Galway' WHERE id = 's03'")
    return hq


def _sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/hq/analytics?{RANGE}")
    expect(page).to_have_url(re.compile(r"/hq/login\?next="))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1500})
    opened = context.new_page()
    yield opened
    context.close()


def test_charts_filters_and_a_refused_filter(months: Hq, hq_server: HqServer, page: Page) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, hq_server.url)
    expect(page).to_have_url(re.compile(re.escape(RANGE) + "$"))
    # Every chart with rows in its table is drawn, by Chart.js, under the page's CSP.
    expect(page.locator('figure[data-drawn="true"]')).to_have_count(CHARTS)
    assert page.evaluate("Object.keys(window.Chart.instances).length") == CHARTS
    # The trend chart plots the table's own figures: net sales of each ISO week.
    plotted = page.evaluate(
        "Object.values(window.Chart.instances)"
        ".find(c => c.canvas.closest('figure').dataset.for === 'trend-table').data"
    )
    rows = page.locator("#trend-table tbody tr")
    expect(rows).to_have_count(15)  # ISO weeks 36 to 50 (7 December is a Monday)
    assert plotted["labels"][0] == "2026-W36"
    first_net = rows.first.locator("td").nth(2).get_attribute("data-value")
    assert plotted["datasets"][0]["data"][0] == pytest.approx(float(first_net or "nan"))
    assert plotted["datasets"][0]["label"] == "Net sales"
    expect(page.locator("#stores-table tbody tr")).to_have_count(3)
    expect(page.locator("#seasonal-table")).to_contain_text("2026-W49")
    expect(page.locator("#slow-table tbody tr").first).to_contain_text("OLD-LAMP")
    expect(page.locator("#cash-cashiers-table")).to_contain_text("Ben")

    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / "hq-trends.png"))

    # By month, Deli only, in Galway.
    page.locator('select[name="store"]').select_option("s03")
    page.locator('select[name="grain"]').select_option("month")
    page.locator('select[name="category"]').select_option(label="Deli")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"grain=month"))
    expect(page.locator("#trend-table tbody tr")).to_have_count(4)
    expect(page.locator("#stores-table tbody tr")).to_have_count(1)
    expect(page.locator("#categories-table tbody tr")).to_have_count(1)
    expect(page.locator("#categories-table")).to_contain_text("Deli")

    # A range the wrong way round: the page says so by the field.
    page.locator('input[name="from"]').fill("2026-12-07")
    page.locator('input[name="to"]').fill("2026-09-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#filters-from-error")).to_have_text(
        "the first day must not be after the last"
    )
    expect(page.locator('input[name="from"]')).to_have_attribute("aria-invalid", "true")
    assert [e for e in errors if "Content Security Policy" in e or "Chart" in e] == []


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP (checked above)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_the_analytics_page_passes_axe(months: Hq, hq_server: HqServer, axe_page: Page) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    _sign_in(axe_page, hq_server.url)
    expect(axe_page.locator('figure[data-drawn="true"]')).to_have_count(CHARTS)
    found = {"analytics": serious_violations(axe_page)}
    axe_page.goto(f"{hq_server.url}/hq/analytics?from=2026-12-07&to=2026-09-01")
    expect(axe_page.locator("#filters-from-error")).to_be_visible()
    found["refused"] = serious_violations(axe_page)
    # A narrow screen (the charts go above their tables).
    axe_page.set_viewport_size({"width": 800, "height": 1000})
    axe_page.goto(f"{hq_server.url}/hq/analytics?{RANGE}&store=s01")
    found["narrow"] = serious_violations(axe_page)
    assert {name: v for name, v in found.items() if v} == {}
