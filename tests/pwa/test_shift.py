"""The register app end to end: discounts with a supervisor's PIN, a gift card and cash with
change, drawer moves (pay-in, no-sale) approved on the register, the X report, stock lookup."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.conftest import PINS, Store
from tests.pwa.test_sell import keypad, snapshot, start_selling


def test_line_and_sale_discounts_and_a_gift_card_with_cash_change(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    start_selling(page, server.url)
    search = page.get_by_label("Search products")
    search.fill("4006381333931")
    search.press("Enter")
    search.fill("4006381333931")
    search.press("Enter")
    search.fill("96385074")
    search.press("Enter")
    expect(page.get_by_test_id("total")).to_have_text("€35.48")

    # 10 % off the two tees is within what a cashier may give: no PIN.
    page.get_by_role("button", name=re.compile("price, discount or remove Classic Tee")).click()
    page.get_by_role("button", name="Discount", exact=True).click()
    page.get_by_role("button", name="10 %").click()
    expect(page.get_by_test_id("discount-preview")).to_have_text("€2.60 off €25.98")
    page.get_by_role("button", name="Give the discount").click()
    expect(page.get_by_test_id("total")).to_have_text("€32.88")

    # 30 % off the sale is above the store's 10 %: a supervisor types their PIN.
    page.get_by_role("button", name="Discount on sale").click()
    page.get_by_label("Percent off").fill("30")
    expect(page.get_by_test_id("discount-preview")).to_contain_text("needs a supervisor")
    page.get_by_role("button", name="Ask a supervisor").click()
    keypad(page, PINS["supervisor"])
    expect(page.get_by_test_id("total")).to_have_text("€23.02")
    expect(page.get_by_test_id("discount")).to_have_text("−€12.46")

    # 10.00 on a gift card, the rest in cash from a 15.00 note.
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_label("Amount").fill("10")
    page.get_by_label("Reference").fill("GC-1001")
    page.get_by_role("button", name="Gift card").click()
    expect(page.get_by_test_id("left")).to_have_text("€13.02")
    page.get_by_role("button", name="€15.00 cash").click()
    expect(page.get_by_test_id("change-due")).to_have_text("€1.98")
    page.get_by_role("button", name="Print receipt").click()
    expect(page.get_by_label("Search products")).to_be_enabled()

    sale = rt.db.one("SELECT * FROM sale")
    assert sale is not None
    assert (sale["subtotal"], sale["discount"], sale["total"]) == (3548, 1246, 2302)
    payments = rt.db.query(
        "SELECT kind, amount, reference FROM payment WHERE event = ? ORDER BY idx", (sale["id"],)
    )
    assert [(p["kind"], p["amount"], p["reference"]) for p in payments] == [
        ("gift_card", 1000, "GC-1001"),
        ("cash", 1302, None),
    ]
    approval = rt.db.one("SELECT action, amount, approver_id, used_for FROM approval")
    assert approval is not None
    assert (approval["action"], approval["amount"]) == ("discount_over_threshold", 986)
    assert (approval["approver_id"], approval["used_for"]) == (
        store.staff["supervisor"],
        sale["id"],
    )
    printed = rt.db.one("SELECT envelope FROM event WHERE type = 'receipt.requested'")
    assert printed is not None
    assert json.loads(printed["envelope"])["body"]["channel"] == "print"


def test_pay_in_and_no_sale_need_a_supervisor_and_the_x_report_shows_the_drawer(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    start_selling(page, server.url)
    page.get_by_role("button", name="Shift", exact=True).click()

    page.get_by_role("button", name="Pay in").click()
    page.get_by_label("Amount").fill("25")
    page.get_by_label("Reason").select_option(label="Float top-up")
    page.get_by_role("button", name="Pay in: ask a supervisor").click()
    snapshot(page, "register-pay-in")
    keypad(page, PINS["supervisor"])
    expect(page.get_by_role("status")).to_contain_text("Pay in €25.00 (Float top-up) recorded")

    page.get_by_role("button", name="No sale").click()
    page.get_by_role("button", name="No sale: ask a supervisor").click()
    keypad(page, "0000")  # a wrong PIN is refused in place
    expect(page.get_by_role("dialog").get_by_role("alert")).to_be_visible()
    keypad(page, PINS["supervisor"])
    expect(page.get_by_role("status")).to_contain_text("No sale")

    moves = rt.db.query(
        "SELECT m.kind, m.amount FROM cash_movement m JOIN event e ON e.id = m.event"
        " ORDER BY e.store_seq"
    )
    assert [(m["kind"], m["amount"]) for m in moves] == [("pay_in", 2500), ("no_sale", 0)]
    assert rt.db.scalar("SELECT count(*) FROM approval WHERE used_for IS NOT NULL") == 2

    # A cashier counts blind: the X report is for supervisors.
    page.get_by_role("button", name="X report").click()
    expect(page.get_by_role("alert")).to_contain_text("a supervisor logs in")
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name=re.compile("^Supervisor")).click()
    keypad(page, PINS["supervisor"])
    page.get_by_role("button", name="Shift", exact=True).click()
    page.get_by_role("button", name="X report").click()
    expect(page.get_by_test_id("x-expected-cash")).to_have_text("€125.00")
    snapshot(page, "register-x-report")


def test_stock_lookup_shows_on_hand_here_and_how_fresh_it_is(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    start_selling(page, server.url)
    page.get_by_role("button", name="Stock", exact=True).click()
    page.get_by_label("Find a product's stock").fill("mug")
    page.get_by_role("button", name=re.compile("MUG-1")).click()
    expect(page.get_by_test_id("on-hand-here")).to_have_text("0")
    expect(page.get_by_role("table", name="Stock by store")).to_contain_text("just now")
    # No cloud here: the other stores cannot be asked, and the panel says so.
    expect(page.get_by_role("region", name="Other stores")).to_contain_text(
        "offline from the cloud"
    )
