"""The manager's admin pages driven in Chromium against a real appliance (waitress on a free
port): sign in, pair a register with a pairing code on a tablet, bind a scanner, add a demo
printer and test print on it, and scan with the virtual scanner into the tablet's sale."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from appliance.devices.print_queue import PrintWorker
from appliance.devices.scanners import find_scanner
from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.appliance.devices.plugged import plug_scanner
from tests.conftest import PINS, Store
from tests.pwa.test_sell import keypad


def sign_in(admin: Page, url: str, store: Store, who: str = "manager") -> None:
    admin.goto(f"{url}/admin/")
    expect(admin.get_by_role("heading", name="Store admin")).to_be_visible()
    admin.get_by_label("Staff ID").fill(store.staff[who].rsplit("-", 1)[1])
    admin.get_by_label("PIN").fill(PINS[who])
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.get_by_role("navigation", name="Admin pages")).to_be_visible()


def go(admin: Page, label: str) -> None:
    """Open an admin page from the navigation."""
    admin.get_by_role("navigation", name="Admin pages").get_by_role("link", name=label).click()
    expect(admin.get_by_role("heading", name=label, exact=True, level=1)).to_be_visible()


def test_a_manager_pairs_a_register_binds_a_scanner_test_prints_and_scans_virtually(
    page: Page,
    admin_page: Page,
    store: Store,
    catalog: Runtime,
    server: RunningServer,
    worker: PrintWorker,
    tmp_path: Path,
) -> None:
    admin = admin_page
    # A wrong PIN is said next to the field.
    admin.goto(f"{server.url}/admin/")
    admin.get_by_label("Staff ID").fill(store.staff["manager"])
    admin.get_by_label("PIN").fill("0000")
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.locator("#pin-error")).to_have_text("wrong staff ID or PIN")
    sign_in(admin, server.url, store)
    expect(admin.get_by_role("heading", name="Test Store")).to_be_visible()

    # Pair a register: a one-time code on the admin page, typed on the tablet's keypad.
    go(admin, "Registers")
    admin.get_by_role("button", name="Make a pairing code").click()
    code = admin.get_by_test_id("pairing-code").inner_text()
    assert re.fullmatch(r"[0-9]{8}", code)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Set up this register")).to_be_visible()
    page.get_by_label("Register name").fill("Till by the window")
    keypad(page, code)
    page.get_by_role("button", name="Cashier cashier").click()
    keypad(page, PINS["cashier"])
    page.get_by_label(re.compile(r"How many of €10\.00")).fill("10")
    page.get_by_role("button", name="Open shift").click()
    expect(page.get_by_label("Search products")).to_be_visible()
    register = str(catalog.db.scalar("SELECT id FROM register WHERE name = 'Till by the window'"))
    assert (
        catalog.db.scalar("SELECT paired_by FROM register WHERE id = ?", (register,))
        == (store.staff["manager"])
    )
    go(admin, "Registers")
    row = admin.get_by_test_id(f"register-{register}")
    expect(row).to_contain_text("Till by the window")
    expect(row).to_contain_text("online")  # its register app holds the scan stream open

    # Bind a scanner the appliance found (the udev boundary, as in the scanner tests).
    scanner = plug_scanner(
        catalog,
        stable_id="path:platform-xhci-hcd.0-usb-0:1.3:1.0",
        name="Zebra DS2208",
        vendor_product="05e0:1200",
    )
    go(admin, "Devices")
    form = admin.get_by_role("form", name="Scanner Zebra DS2208")
    form.get_by_label("Register").select_option(register)
    form.get_by_label("Keyboard layout").select_option("uk")
    form.get_by_role("button", name="Save").click()
    expect(admin.get_by_role("status")).to_contain_text(f"scans for {register}")
    saved = find_scanner(catalog, scanner.id)
    assert (saved.register, saved.layout) == (register, "uk")

    # A demo printer, bound to the register, and a test print: the folder gets the PNG.
    # A folder name alone is inside the data directory.
    folder = catalog.settings.data_dir / "prints"
    add = admin.get_by_role("form", name="Add a printer")
    add.get_by_label("Name").fill("Demo")
    add.get_by_label("Connection").select_option("demo")
    add.get_by_label("Address").fill("prints")
    add.get_by_role("button", name="Add printer").click()
    expect(admin.get_by_role("status")).to_contain_text("Printer Demo added")
    bind = admin.get_by_role("form", name="Bind Demo")
    bind.get_by_label("Register").select_option(register)
    bind.get_by_role("button", name="Bind").click()
    expect(admin.get_by_role("status")).to_contain_text(f"{register} now prints on Demo")
    admin.get_by_role("button", name="Test print on Demo").click()
    expect(admin.get_by_role("status")).to_contain_text("Test page sent to Demo")
    image = folder / "000001-test-page.png"
    deadline = time.monotonic() + 10
    while not image.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert image.read_bytes().startswith(b"\x89PNG")
    admin.reload()
    expect(admin.get_by_test_id("jobs")).to_contain_text("printed")
    thumbnail = admin.get_by_test_id("demo-prints").get_by_role("img", name="000001-test-page.png")
    expect(thumbnail).to_be_visible()
    assert admin.evaluate("img => img.naturalWidth > 100", thumbnail.element_handle()), (
        "the thumbnail did not load"
    )

    # The virtual scanner: the scan reaches the tablet's sale over its scan stream.
    scan = admin.get_by_role("form", name="Virtual scanner")
    scan.get_by_label("Register").select_option(register)
    scan.get_by_label("Barcode").fill("96385074")
    scan.get_by_role("button", name="Scan").click()
    expect(admin.get_by_role("status")).to_contain_text(f"Scanned 96385074 for {register}")
    expect(page.get_by_test_id("total")).to_have_text("€9.50")

    folder_out = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder_out:
        admin.reload()
        expect(thumbnail).to_be_visible()
        admin.screenshot(path=str(Path(folder_out) / "admin-devices.png"), full_page=True)

    # Everything the manager changed is in the audit log, with who did it.
    actions = [
        row[0]
        for row in catalog.db.query(
            "SELECT action FROM admin_audit WHERE staff_id = ? ORDER BY id",
            (store.staff["manager"],),
        )
    ]
    assert actions == [
        "sign_in",
        "pairing_code",
        "scanner_save",
        "printer_add",
        "printer_bind",
        "printer_test",
        "virtual_scan",
    ]
