"""A register outlives its appliance: when the appliance is replaced by one that holds only
part of the register's chain (as one restored from the cloud does), the register app pushes
again, in order, the sales it still holds, and nothing is sold twice (decisions.md §42)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from appliance.app import create_app
from appliance.server import RunningServer, start_in_thread
from appliance.settings import DATABASE_FILE, SETTINGS_FILE, Settings
from tests.conftest import PINS, Store, make_settings
from tests.pwa.test_sell import keypad, start_selling


def sell(page: Page, n: int) -> None:
    """One mug for cash; the sale is done (on the appliance or on this tablet)."""
    search = page.get_by_label("Search products")
    search.fill("96385074")
    search.press("Enter")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_label("Amount").fill("10")
    page.get_by_role("button", name="Cash", exact=True).click()
    expect(page.get_by_role("status").filter(has_text=f"-{n:06d}")).to_be_visible()
    page.get_by_role("button", name="No receipt").click()


def replacement(settings: Settings, root: Path) -> Settings:
    """A copy of the appliance as it stands now, without staff sessions (a restore from the
    cloud has none): the register's later sales will be missing from it."""
    root.mkdir()
    shutil.copyfile(settings.settings_path, root / SETTINGS_FILE)
    source = sqlite3.connect(settings.database_path)
    target = sqlite3.connect(root / DATABASE_FILE)
    try:
        source.backup(target)
        target.execute("DELETE FROM staff_session")
        target.commit()
    finally:
        source.close()
        target.close()
    return make_settings(root)


def test_a_replaced_appliance_gets_the_sales_it_lacks_from_the_register(
    browser: Browser,
    store: Store,
    catalog: object,
    server: RunningServer,
    settings: Settings,
    tmp_path: Path,
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    try:
        page = context.new_page()
        start_selling(page, server.url)
        for n in (1, 2):
            sell(page, n)
        later = replacement(settings, tmp_path / "replacement")
        for n in (3, 4):
            sell(page, n)
        expect(page.get_by_test_id("sync")).to_contain_text("All sent")

        # The appliance dies; its replacement lacks sales 3 and 4 and every staff session.
        port = server.port
        server.stop()
        back = start_in_thread(create_app(later), later, port=port)
        try:
            # The cashier's session is gone: the next sale is refused and they log in again.
            search = page.get_by_label("Search products")
            search.fill("96385074")
            search.press("Enter")
            page.get_by_role("button", name=re.compile("^Pay")).click()
            page.get_by_label("Amount").fill("10")
            page.get_by_role("button", name="Cash", exact=True).click()
            page.get_by_role("button", name="Cashier cashier").click()
            keypad(page, PINS["cashier"])
            # The cart is as it was; paid again, it is sale 5 (the refused one took no number).
            page.get_by_role("button", name=re.compile("^Pay")).click()
            page.get_by_label("Amount").fill("10")
            page.get_by_role("button", name="Cash", exact=True).click()
            expect(page.get_by_role("status").filter(has_text="-000005")).to_be_visible()
            page.get_by_role("button", name="No receipt").click()
            expect(page.get_by_test_id("sync")).to_contain_text("All sent", timeout=45_000)
        finally:
            back.stop()
    finally:
        context.close()

    db = sqlite3.connect(later.database_path)
    try:
        receipts = [r[0] for r in db.execute("SELECT receipt FROM sale ORDER BY receipt")]
        register = db.execute("SELECT id FROM register WHERE name = 'Till by the door'").fetchone()[
            0
        ]
        seqs = [
            r[0]
            for r in db.execute("SELECT seq FROM event WHERE origin = ? ORDER BY seq", (register,))
        ]
    finally:
        db.close()
    assert receipts == [f"{register}-{n:06d}" for n in range(1, 6)]
    assert seqs == list(range(1, len(seqs) + 1))
