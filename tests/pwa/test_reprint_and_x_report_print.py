"""Printing from the register app, part 2: a past receipt reprinted from the Returns screen
(marked REPRINT by the appliance) and the X report printed from the Shift screen by a
supervisor, both on the register's own printer (the demo printer writes PNG and text)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from appliance.devices.print_queue import PrintWorker
from appliance.devices.printers import add_printer, bind_printer
from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.conftest import PINS, Store
from tests.pwa.test_printing import newest_register, sell_a_mug_for_cash, worker
from tests.pwa.test_returns import find, open_returns
from tests.pwa.test_sell import keypad, start_selling

__all__ = ["worker"]


def _wait_for(folder: Path, pattern: str) -> Path:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(
        f"nothing printed as {pattern}: {sorted(p.name for p in folder.glob('*'))}"
    )


def test_a_receipt_is_reprinted_and_a_supervisor_prints_the_x_report(
    page: Page,
    store: Store,
    catalog: Runtime,
    server: RunningServer,
    worker: PrintWorker,
    tmp_path: Path,
) -> None:
    start_selling(page, server.url)
    folder = tmp_path / "prints"
    printer = add_printer(catalog, name="Demo", connection="demo", address=str(folder))
    bind_printer(catalog, newest_register(catalog), printer)
    sell_a_mug_for_cash(page)
    page.get_by_role("button", name="Print receipt").click()
    expect(page.get_by_label("Search products")).to_be_enabled()
    receipt = str(catalog.db.scalar("SELECT receipt FROM sale"))
    first = _wait_for(folder, f"*-receipt-{receipt}.txt")
    assert "REPRINT" not in first.read_text(encoding="utf-8")

    open_returns(page)
    find(page, receipt)
    page.get_by_role("button", name="Reprint receipt").click()
    expect(page.get_by_role("status")).to_contain_text(f"Receipt {receipt} sent to the printer")
    copy = _wait_for(folder, "000002-*.txt")
    text = copy.read_text(encoding="utf-8")
    assert "*** REPRINT ***" in text and "TOTAL EUR 9.50" in text
    assert (
        catalog.db.scalar("SELECT kind FROM print_job WHERE ref = ? ORDER BY id DESC", (receipt,))
        == "reprint"
    )

    # The X report, printed by a supervisor from the Shift screen.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name=re.compile("^Supervisor")).click()
    keypad(page, PINS["supervisor"])
    page.get_by_role("button", name="Shift", exact=True).click()
    page.get_by_role("button", name="X report").click()
    expect(page.get_by_test_id("x-expected-cash")).to_have_text("€109.50")
    page.get_by_role("button", name="Print X report").click()
    expect(page.get_by_role("status")).to_contain_text("X report sent to this register's printer")
    report = _wait_for(folder, "*x-report*.txt").read_text(encoding="utf-8")
    assert "X REPORT" in report and "109.50" in report
    job = catalog.db.one("SELECT kind, staff FROM print_job WHERE kind = 'x_report'")
    assert tuple(job) == ("x_report", store.staff["supervisor"])
