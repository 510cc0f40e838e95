"""The cashier app end to end: pair, log in, open a shift, sell by search and by scan."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from appliance.app import create_app
from appliance.runtime import Runtime
from appliance.server import RunningServer, start_in_thread
from appliance.settings import Settings
from appliance.stock import quick_on_hand
from tests.conftest import PINS, Store


def snapshot(page: Page, name: str) -> None:
    """With TILLBOX_SCREENSHOTS=dir, keep a 1280×800 picture of this screen (for the docs)."""
    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def wedge_scan(page: Page, code: str, end: str = "Enter") -> None:
    """A keyboard-wedge scanner: the code's keys and Enter, 2 ms apart, with no field focused.

    The keys are dispatched in the page in one go with their own timestamps, as a scanner's
    HID reports arrive: typing them through CDP would space them by however busy this machine
    is, and the app rightly takes keys 35 ms apart for a person typing.
    """
    page.evaluate(
        """({code, end}) => {
            const start = performance.now();
            [...code, end].forEach((key, i) => {
                const event = new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true });
                Object.defineProperty(event, "timeStamp", { value: start + 2 * i });
                (document.activeElement ?? document.body).dispatchEvent(event);
            });
        }""",
        {"code": code, "end": end},
    )


def keypad(page: Page, digits: str) -> None:
    for digit in digits:
        page.get_by_role("button", name=digit, exact=True).click()
    page.get_by_role("button", name="Enter", exact=True).click()


def test_pair_log_in_open_a_shift_and_sell_with_split_tender(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    page.goto(server.url)

    # Pair: a manager approves this tablet with their PIN.
    expect(page.get_by_role("heading", name="Set up this register")).to_be_visible()
    page.get_by_label("Register name").fill("Till by the door")
    keypad(page, PINS["manager"])

    # Log in as the cashier.
    page.get_by_role("button", name="Cashier cashier").click()
    keypad(page, PINS["cashier"])

    # No open shift yet: count a float of 10 × 10.00.
    expect(page.get_by_role("heading", name="Open your shift")).to_be_visible()
    page.get_by_label(re.compile(r"How many of €10\.00")).fill("10")
    expect(page.get_by_test_id("float-total")).to_have_text("€100.00")
    page.get_by_role("button", name="Open shift").click()

    # Sell: one tee found by typing, one mug by scanning its barcode.
    search = page.get_by_label("Search products")
    expect(search).to_be_visible()
    # Nothing typed: the category grid. Apparel holds the two tees.
    categories = page.get_by_role("list", name="Categories")
    expect(categories.get_by_role("button")).to_have_count(2)
    categories.get_by_role("button", name=re.compile("^Apparel")).click()
    page.get_by_role("button", name=re.compile("TEE-M-RED")).click()
    page.get_by_role("button", name="← All categories").click()
    expect(categories).to_be_visible()
    # A keyboard-wedge scanner, with no field focused: a burst of keys and Enter.
    page.get_by_role("region", name="Cart").click(position={"x": 5, "y": 5})
    wedge_scan(page, "96385074")
    expect(page.get_by_test_id("total")).to_have_text("€22.49")
    # An unknown code says so, and blocks nothing.
    wedge_scan(page, "12345670")
    expect(page.get_by_role("status").filter(has_text="barcode")).to_have_text(
        "No product has the barcode 12345670"
    )
    # Typing a barcode into the search box and pressing Enter works as well.
    search.fill("4006381333931")
    search.press("Enter")
    expect(page.get_by_test_id("total")).to_have_text("€35.48")
    page.get_by_role("button", name="One less Classic Tee — M / Red").click()
    expect(page.get_by_test_id("total")).to_have_text("€22.49")
    search.fill("tee")
    snapshot(page, "register-sell")

    # Split tender: 10.00 cash, the rest by card.
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_label("Amount").fill("10")
    page.get_by_role("button", name="Cash", exact=True).click()
    expect(page.get_by_test_id("left")).to_have_text("€12.49")
    snapshot(page, "register-tender")
    page.get_by_label("Reference").fill("A1B2C3")
    page.get_by_role("button", name="Card", exact=True).click()
    register = rt.db.scalar("SELECT id FROM register WHERE name = 'Till by the door'")
    expect(page.get_by_role("status").filter(has_text="done")).to_contain_text(
        f"Sale {register}-000001 done"
    )
    # The customer wants the receipt by email.
    page.get_by_role("button", name="Email").click()
    page.get_by_label("Customer's email").fill("ana@example.com")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_label("Search products")).to_be_enabled()
    asked = rt.db.one("SELECT envelope FROM event WHERE type = 'receipt.requested'")
    assert asked is not None
    assert json.loads(asked["envelope"])["body"] == {
        "receipt": f"{register}-000001",
        "channel": "email",
        "to": "ana@example.com",
        "gift": False,
    }

    sale = rt.db.one("SELECT * FROM sale WHERE receipt = ?", (f"{register}-000001",))
    assert sale is not None
    assert (sale["total"], sale["tax"], sale["actor"]) == (2249, 375, store.staff["cashier"])
    payments = rt.db.query(
        "SELECT kind, amount FROM payment WHERE event = ? ORDER BY idx", (sale["id"],)
    )
    assert [(p["kind"], p["amount"]) for p in payments] == [("cash", 1000), ("card", 1249)]
    assert rt.db.scalar("SELECT count(*) FROM review_flag") == 1  # stock went below zero

    # Blind close: 11 × 10.00 in the drawer, the card terminal says 12.49; then the Z report.
    page.get_by_role("button", name="Shift", exact=True).click()
    page.get_by_role("button", name="Close shift").click()
    page.get_by_label(re.compile(r"How many of €10\.00")).fill("11")
    page.get_by_label("Card terminal total").fill("12.49")
    snapshot(page, "register-close")
    page.get_by_role("button", name="Close shift").click()
    expect(page.get_by_role("heading", name="Z report 1")).to_be_visible()
    expect(page.get_by_test_id("difference-cash")).to_have_text("€0.00")
    expect(page.get_by_test_id("difference-card")).to_have_text("€0.00")
    expect(page.get_by_test_id("net-sales")).to_have_text("€22.49")
    snapshot(page, "register-z-report")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_text("Who is selling?")).to_be_visible()
    closed = rt.db.one("SELECT closed_by FROM shift WHERE register = ?", (register,))
    assert closed is not None and closed["closed_by"] == store.staff["cashier"]


def test_an_outage_burst_of_20_sales_survives_two_reloads_and_arrives_once(
    browser: Browser, store: Store, catalog: Runtime, server: RunningServer, settings: Settings
) -> None:
    """The appliance goes away; the cashier sells on, the tablet is reloaded twice (the cashier
    stays logged in and sells once more), and when the appliance is back every sale reaches it
    once, in order, and on-hand is right."""
    rt = store.rt
    mug = rt.db.scalar("SELECT uid FROM variant WHERE sku = 'MUG-1'")
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # service worker on
    try:
        page = context.new_page()
        start_selling(page, server.url)
        search = page.get_by_label("Search products")
        # The app shell is cached by the service worker before the appliance goes away.
        page.wait_for_function("navigator.serviceWorker.controller !== null")

        port = server.port
        server.stop()
        for n in range(1, 21):
            search.fill("96385074")
            search.press("Enter")
            page.get_by_role("button", name=re.compile("^Pay")).click()
            page.get_by_label("Amount").fill("10")
            page.get_by_role("button", name="Cash", exact=True).click()
            expect(
                page.get_by_role("status").filter(has_text="saved on this tablet")
            ).to_contain_text(f"-{n:06d} saved on this tablet")
            page.get_by_role("button", name="No receipt").click()
        expect(page.get_by_test_id("sync")).to_contain_text("20 waiting on this tablet")
        assert rt.db.scalar("SELECT count(*) FROM sale") == 0

        for _ in range(2):
            page.reload()
            expect(page.get_by_test_id("sync")).to_contain_text("20 waiting on this tablet")
        # The detail screen lists what waits here, and says the appliance cannot be reached.
        page.get_by_test_id("sync").click()
        expect(page.get_by_test_id("tablet-waiting")).to_contain_text("20 waiting")
        expect(page.get_by_role("region", name="The appliance")).to_contain_text(
            "cannot be reached"
        )
        snapshot(page, "register-sync")
        page.get_by_role("button", name="Back").click()
        # The cashier is still logged in after the reloads, with the shift open: one more sale.
        search.fill("96385074")
        search.press("Enter")
        page.get_by_role("button", name=re.compile("^Pay")).click()
        page.get_by_role("button", name="Cash", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="saved on this tablet")).to_contain_text(
            "-000021 saved on this tablet"
        )
        page.get_by_role("button", name="No receipt").click()
        expect(page.get_by_test_id("sync")).to_contain_text("21 waiting on this tablet")

        back = start_in_thread(create_app(settings, runtime=rt), settings, port=port)
        try:
            expect(page.get_by_test_id("sync")).to_contain_text("All sent", timeout=45_000)
        finally:
            back.stop()
    finally:
        context.close()

    receipts = [r[0] for r in rt.db.query("SELECT receipt FROM sale ORDER BY receipt")]
    register = rt.db.scalar("SELECT id FROM register WHERE name = 'Till by the door'")
    assert receipts == [f"{register}-{n:06d}" for n in range(1, 22)]
    assert quick_on_hand(rt, mug) == -21
    assert rt.db.scalar("SELECT count(*) FROM payment") == 21


def start_selling(page: Page, url: str) -> None:
    """Pair a new register, log the cashier in, open a shift with a 100.00 float."""
    page.goto(url)
    page.get_by_label("Register name").fill("Till by the door")
    keypad(page, PINS["manager"])
    page.get_by_role("button", name="Cashier cashier").click()
    keypad(page, PINS["cashier"])
    page.get_by_label(re.compile(r"How many of €10\.00")).fill("10")
    page.get_by_role("button", name="Open shift").click()
    expect(page.get_by_label("Search products")).to_be_visible()


def test_a_price_override_approved_by_a_supervisor_pin_on_the_register(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    start_selling(page, server.url)
    search = page.get_by_label("Search products")
    search.fill("96385074")
    search.press("Enter")
    page.get_by_role(
        "button", name=re.compile("price, discount or remove Crème Brûlée Mug")
    ).click()
    page.get_by_role("button", name="Change the price").click()
    dialog = page.get_by_role("dialog", name="Change the price")
    dialog.get_by_label("New price").fill("8.00")
    dialog.get_by_label("Reason").select_option("Damaged item")
    # A wrong PIN is refused in place; the supervisor's is accepted.
    keypad(page, "0000")
    expect(dialog.get_by_role("alert")).to_be_visible()
    keypad(page, PINS["supervisor"])
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("total")).to_have_text("€8.00")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_label("Reference").fill("A1B2C3")
    page.get_by_role("button", name="Card", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="done")).to_contain_text("-000001 done")

    line = rt.db.one("SELECT unit_price, list_price FROM sale_line")
    assert line is not None and (line["unit_price"], line["list_price"]) == (800, 950)
    approval = rt.db.one("SELECT action, amount, approver_id, used_for FROM approval")
    assert approval is not None
    assert (approval["action"], approval["amount"]) == ("price_override", 800)
    assert approval["approver_id"] == store.staff["supervisor"]
    assert approval["used_for"] == rt.db.scalar("SELECT id FROM sale")


def test_a_scanner_on_the_appliance_reaches_only_its_registers_sell_screen(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    """The appliance's scanner bound to this register: the scan arrives over the SSE stream
    and lands in the cart; a scan for another register does not."""
    rt = store.rt
    start_selling(page, server.url)
    register = rt.db.scalar("SELECT id FROM register WHERE name = 'Till by the door'")
    manager = store.login("manager")
    page.get_by_test_id("sync").click()
    expect(
        page.get_by_text("Scanners on the appliance: connected to this register")
    ).to_be_visible()
    page.get_by_role("button", name="Back").click()

    def fake_scan(to: str, code: str) -> None:
        answer = store.client.post(
            "/api/v1/scans", json={"register": to, "code": code}, headers=store.bearer(manager)
        )
        assert answer.status_code == 202, answer.get_json()

    fake_scan(store.register_id, "96385074")  # the other register's scanner
    fake_scan(register, "4006381333931")
    expect(page.get_by_test_id("total")).to_have_text("€12.99")
    fake_scan(register, "4006381333931")
    expect(page.get_by_test_id("qty")).to_have_text("2")
    fake_scan(register, "12345670")
    expect(page.get_by_role("status").filter(has_text="barcode")).to_have_text(
        "No product has the barcode 12345670"
    )
    expect(page.get_by_test_id("total")).to_have_text("€25.98")


def test_the_tablet_scanner_prefix_and_suffix_are_set_on_the_register(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    start_selling(page, server.url)
    page.get_by_role("button", name="Till by the door: register settings").click()
    page.get_by_label("Scanner prefix").fill("%")
    page.get_by_label("Scanner suffix").select_option("Tab")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="This register").click()
    wedge_scan(page, "%4006381333931", end="Tab")
    expect(page.get_by_test_id("scan-test")).to_have_text("Scanned: 4006381333931")
    # Without the prefix, or ended by Enter, it is not a scan any more.
    wedge_scan(page, "4006381333931", end="Tab")
    wedge_scan(page, "%96385074")
    expect(page.get_by_test_id("scan-test")).to_have_text("Scanned: 4006381333931")

    # The set-up outlives a reload, and Sell takes scans with it.
    page.reload()
    page.get_by_role("button", name="Sell", exact=True).click()
    page.get_by_role("region", name="Cart").click(position={"x": 5, "y": 5})
    wedge_scan(page, "%96385074", end="Tab")
    expect(page.get_by_test_id("total")).to_have_text("€9.50")
