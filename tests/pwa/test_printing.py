"""Printing from the register app: the cashier chooses Print, the appliance's print worker
prints on the register's printer (here the demo printer: a PNG and a text file), and a printer
in trouble shows in the header."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from appliance.devices.print_queue import PrintWorker
from appliance.devices.printers import add_printer, bind_printer
from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.appliance.sync.mqtt_fakes import free_port
from tests.conftest import Store
from tests.pwa.test_sell import start_selling


@pytest.fixture
def worker(catalog: Runtime) -> Iterator[PrintWorker]:
    running = PrintWorker(catalog, poll_s=0.1).start()
    yield running
    running.stop()


def newest_register(rt: Runtime) -> str:
    return str(rt.db.scalar("SELECT id FROM register ORDER BY created_at DESC, id DESC LIMIT 1"))


def sell_a_mug_for_cash(page: Page) -> None:
    search = page.get_by_label("Search products")
    search.fill("96385074")
    search.press("Enter")
    expect(page.get_by_test_id("total")).to_have_text("€9.50")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_label("Amount").fill("10")
    page.get_by_role("button", name="Cash", exact=True).click()
    expect(page.get_by_test_id("change-due")).to_have_text("€0.50")


def test_print_after_a_cash_sale_makes_the_demo_receipt_and_opens_the_drawer(
    page: Page,
    store: Store,
    catalog: Runtime,
    server: RunningServer,
    worker: PrintWorker,
    tmp_path: Path,
) -> None:
    start_selling(page, server.url)
    register = newest_register(catalog)
    printer = add_printer(catalog, name="Demo", connection="demo", address=str(tmp_path / "prints"))
    bind_printer(catalog, register, printer)
    sell_a_mug_for_cash(page)
    page.get_by_role("button", name="Print receipt").click()
    expect(page.get_by_label("Search products")).to_be_enabled()
    receipt = str(catalog.db.scalar("SELECT receipt FROM sale"))
    image = tmp_path / "prints" / f"000001-receipt-{receipt}.png"
    deadline = time.monotonic() + 10
    while not image.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert image.exists(), sorted(p.name for p in (tmp_path / "prints").glob("*"))
    text = image.with_suffix(".txt").read_text(encoding="utf-8")
    assert "TOTAL EUR 9.50" in text and "Change" in text
    assert (tmp_path / "prints" / "drawer.log").read_text(encoding="utf-8") == "drawer opened\n"
    kick = catalog.db.one("SELECT register, reason, outcome FROM drawer_kick")
    assert kick is not None and tuple(kick) == (register, "sale", "sent")
    expect(page.get_by_test_id("printer-status")).to_have_count(0)  # nothing wrong
    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder:
        shutil.copyfile(image, Path(folder) / "receipt-demo.png")


def test_a_printer_that_is_off_shows_in_the_header_with_what_waits(
    page: Page, store: Store, catalog: Runtime, server: RunningServer, worker: PrintWorker
) -> None:
    start_selling(page, server.url)
    # Nothing listens on this port: the printer is switched off.
    printer = add_printer(
        catalog, name="Front", connection="network", address=f"127.0.0.1:{free_port()}"
    )
    bind_printer(catalog, newest_register(catalog), printer)
    sell_a_mug_for_cash(page)
    page.get_by_role("button", name="Print receipt").click()
    expect(page.get_by_test_id("printer-status")).to_have_text(
        re.compile(r"Printer offline · [12] waiting to print"), timeout=10_000
    )
