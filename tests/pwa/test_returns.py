"""Returns end to end: find the sale by a scanned or typed receipt, take lines back with a
reason, refund to the original tenders or as store credit, return without a receipt with a
supervisor's PIN, and an exchange handed to the Sell screen."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from appliance.runtime import Runtime
from appliance.server import RunningServer
from appliance.stock import quick_on_hand
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import PINS, FakeWall, Store
from tests.pwa.test_sell import keypad, snapshot, start_selling, wedge_scan

TEE = "Classic Tee — M / Red"
MUG = 'Crème Brûlée Mug, "Large"'


def front_till(store: Store, who: str = "cashier2") -> Till:
    """The store's other register ("Front till"), with `who` logged in and a shift open.

    Its clock is set to now: the tablet stamps its events with the browser's real clock.
    """
    return make_till(store, FakeWall(ms=int(time.time() * 1000)), who)


def sell_at(till: Till, items: list[Item], tenders: list[dict[str, Any]]) -> tuple[str, str]:
    """A live sale at that till: its id and receipt number."""
    body = till.sale_body(items, tenders=tenders)
    sent = till.send("sale.completed", body)
    ok(sent)
    return sent.envelope.id, str(body["receipt"])


def open_returns(page: Page) -> None:
    page.get_by_role("navigation", name="Screens").get_by_role("button", name="Returns").click()
    expect(page.get_by_role("heading", name="Returns", exact=True)).to_be_visible()


def scan(page: Page, code: str) -> None:
    """A keyboard-wedge scanner with no field focused: a burst of keys and Enter."""
    page.get_by_role("heading", name="Returns", exact=True).click()
    wedge_scan(page, code)


def find(page: Page, receipt: str) -> None:
    page.get_by_label("Receipt number").fill(receipt)
    page.get_by_role("button", name="Find", exact=True).click()


def pick_reason(page: Page, title: str, reason: str) -> None:
    page.get_by_role("button", name=f"Pick a reason for {title}").click()
    dialog = page.get_by_role("dialog", name=f"Why is {title} coming back?")
    dialog.get_by_role("button", name=re.compile(f"^{reason}")).click()
    expect(dialog).to_have_count(0)


def notice(page: Page) -> Any:
    return page.get_by_test_id("returns-notice")


def register_of(rt: Runtime) -> str:
    value: str = rt.db.scalar("SELECT id FROM register WHERE name = 'Till by the door'")
    return value


def refunds(rt: Runtime, receipt: str) -> list[tuple[str, int, str | None]]:
    return [
        (row["kind"], row["amount"], row["reference"])
        for row in rt.db.query(
            "SELECT p.kind, p.amount, p.reference FROM payment p JOIN return_doc r ON r.id = p.event"
            " WHERE r.receipt = ? ORDER BY p.idx",
            (receipt,),
        )
    ]


def test_a_scanned_receipt_returns_one_of_two_to_the_card_and_back_on_the_shelf(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    sale_id, receipt = sell_at(
        front_till(store),
        [Item(tee, 2, 1299)],
        [{"kind": "card", "amount": 2598, "reference": "AUTH-1"}],
    )
    on_hand = quick_on_hand(rt, tee)
    start_selling(page, server.url)
    open_returns(page)

    # An unknown receipt says so and blocks nothing.
    find(page, "s01-r99-000001")
    expect(notice(page)).to_have_text("No sale has the receipt number s01-r99-000001.")

    # The receipt's barcode, scanned with no field focused, finds the sale from the other till.
    scan(page, receipt)
    lines = page.get_by_role("region", name=f"Items on receipt {receipt}")
    expect(lines.get_by_test_id("counts")).to_have_text("Sold 2 · returned 0 · 2 can come back")
    expect(page.get_by_role("button", name=re.compile("^Refund"))).to_be_disabled()
    page.get_by_role("button", name=f"One more {TEE} back").click()
    expect(page.get_by_test_id("refund-total")).to_have_text("€12.99")
    # No refund until the cashier says why the item is coming back.
    expect(page.get_by_role("button", name="Refund €12.99")).to_be_disabled()
    pick_reason(page, TEE, "Changed mind")
    expect(
        page.get_by_role("button", name=f"Reason for {TEE}: Changed mind · back on the shelf")
    ).to_be_visible()
    expect(page.get_by_test_id("refund-to")).to_have_text("Refund €12.99 to card")
    snapshot(page, "register-returns")
    page.get_by_role("button", name="Refund €12.99").click()
    register = register_of(rt)
    expect(notice(page)).to_have_text(f"Return {register}-000001 done. €12.99 to card.")

    doc = rt.db.one("SELECT * FROM return_doc WHERE receipt = ?", (f"{register}-000001",))
    assert doc is not None
    assert (doc["original_sale"], doc["total"], doc["tax"], doc["actor"], doc["register"]) == (
        sale_id,
        1299,
        217,
        store.staff["cashier"],
        register,
    )
    line = rt.db.one("SELECT * FROM return_line WHERE return_id = ?", (doc["id"],))
    assert line is not None
    assert (line["line"], line["original_line"], line["variant"], line["qty"]) == (1, 1, tee, 1)
    assert (line["refund"], line["tax"], line["reason"], line["disposition"]) == (
        1299,
        217,
        "changed_mind",
        "restock",
    )
    assert refunds(rt, f"{register}-000001") == [("card", -1299, "AUTH-1")]
    assert quick_on_hand(rt, tee) == on_hand + 1

    # Once more: only one is left, and the stepper stops there.
    scan(page, receipt)
    expect(lines.get_by_test_id("counts")).to_have_text("Sold 2 · returned 1 · 1 can come back")
    more = page.get_by_role("button", name=f"One more {TEE} back")
    more.click()
    expect(more).to_be_disabled()
    expect(lines.get_by_test_id("return-qty")).to_have_text("1")
    expect(page.get_by_test_id("refund-total")).to_have_text("€12.99")
    assert rt.db.scalar("SELECT count(*) FROM return_doc") == 1


def test_damaged_and_vendor_returns_do_not_restock_and_the_card_is_refunded_before_cash(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    _, receipt = sell_at(
        front_till(store),
        [Item(tee, 2, 1299)],
        [
            {"kind": "cash", "amount": 1000, "tendered": 1000},
            {"kind": "card", "amount": 1598, "reference": "AUTH-2"},
        ],
    )
    on_hand = quick_on_hand(rt, tee)
    start_selling(page, server.url)
    open_returns(page)
    register = register_of(rt)

    # Typed, this time: one tee is faulty.
    find(page, receipt)
    page.get_by_role("button", name=f"One more {TEE} back").click()
    pick_reason(page, TEE, "Defective")
    expect(
        page.get_by_role("button", name=f"Reason for {TEE}: Defective · damaged")
    ).to_be_visible()
    expect(page.get_by_test_id("refund-to")).to_have_text("Refund €12.99 to card")
    page.get_by_role("button", name="Refund €12.99").click()
    expect(notice(page)).to_have_text(f"Return {register}-000001 done. €12.99 to card.")
    assert quick_on_hand(rt, tee) == on_hand

    # The other is recalled: the card takes what is left of its 15.98, the rest is cash.
    find(page, receipt)
    page.get_by_role("button", name=f"One more {TEE} back").click()
    pick_reason(page, TEE, "Vendor recall")
    expect(page.get_by_test_id("refund-to")).to_have_text("Refund €2.99 to card, €10.00 cash")
    page.get_by_role("button", name="Refund €12.99").click()
    expect(notice(page)).to_have_text(
        f"Return {register}-000002 done. €2.99 to card; Give back €10.00 cash."
    )
    assert refunds(rt, f"{register}-000002") == [("card", -299, "AUTH-2"), ("cash", -1000, None)]
    dispositions = [
        (r["reason"], r["disposition"], r["tax"])
        for r in rt.db.query("SELECT reason, disposition, tax FROM return_line ORDER BY return_id")
    ]
    assert sorted(dispositions) == [("defective", "damaged", 217), ("recall", "rtv", 216)]
    assert quick_on_hand(rt, tee) == on_hand

    # Nothing is left on the receipt: the line is shown, and cannot be picked.
    find(page, receipt)
    expect(notice(page)).to_have_text(f"Everything on receipt {receipt} has already been returned.")
    expect(page.get_by_test_id("counts")).to_have_text("Sold 2 · returned 2 · nothing left")
    expect(page.get_by_role("button", name=f"One more {TEE} back")).to_be_disabled()


def test_store_credit_instead_of_the_original_tender(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    _, receipt = sell_at(
        front_till(store), [Item(mug, 1, 950)], [{"kind": "cash", "amount": 950, "tendered": 2000}]
    )
    start_selling(page, server.url)
    open_returns(page)
    scan(page, receipt)
    page.get_by_role("button", name=f"One more {MUG} back").click()
    pick_reason(page, MUG, "Wrong size")
    expect(page.get_by_test_id("refund-to")).to_have_text("Refund €9.50 cash")
    page.get_by_role("button", name="Store credit", exact=True).click()
    expect(page.get_by_test_id("refund-to")).to_have_text("Refund €9.50 store credit")
    page.get_by_role("button", name="Refund €9.50").click()
    number = f"{register_of(rt)}-000001"
    expect(notice(page)).to_have_text(f"Return {number} done. €9.50 store credit on SC-{number}.")
    assert refunds(rt, number) == [("store_credit", -950, f"SC-{number}")]


def test_a_line_another_till_returned_meanwhile_is_refused_with_the_appliances_reason(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    till = front_till(store)
    _, receipt = sell_at(
        till, [Item(mug, 1, 950)], [{"kind": "card", "amount": 950, "reference": "A"}]
    )
    start_selling(page, server.url)
    open_returns(page)
    scan(page, receipt)
    page.get_by_role("button", name=f"One more {MUG} back").click()
    pick_reason(page, MUG, "Changed mind")

    # The front till takes the mug back first.
    line = {"line": 1, "original_line": 1, "variant": mug, "qty": 1, "refund": 950, "tax": 158}
    ok(
        till.send(
            "return.completed",
            {
                "receipt": till.next_receipt(),
                "shift": till.shift,
                "original": receipt,
                "lines": [{**line, "reason": "changed_mind"}],
                "tenders": [{"kind": "card", "amount": 950, "reference": "A"}],
                "totals": {"total": 950, "tax": 158},
            },
        )
    )
    page.get_by_role("button", name="Refund €9.50").click()
    expect(notice(page)).to_have_text("line 1: 1 sold, 1 already returned, 0 left to return")
    assert rt.db.scalar("SELECT count(*) FROM return_doc") == 1
    # Refused live, the return was taken back off the tablet: nothing waits to be sent.
    expect(page.get_by_test_id("sync")).to_contain_text("All sent")


def test_a_voided_sale_and_an_unreachable_appliance_say_so(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    till = front_till(store, "supervisor")
    sale_id, receipt = sell_at(
        till, [Item(uid(rt, "MUG-1"), 1, 950)], [{"kind": "card", "amount": 950, "reference": "A"}]
    )
    ok(till.send("sale.voided", {"sale": sale_id, "receipt": receipt, "reason": "Rung up twice"}))
    start_selling(page, server.url)
    open_returns(page)
    scan(page, receipt)
    expect(notice(page)).to_have_text(
        f"Receipt {receipt} was voided: nothing on it can be returned."
    )
    expect(page.get_by_role("region", name=re.compile("Items on receipt"))).to_have_count(0)

    server.stop()
    find(page, "s01-r01-000009")
    expect(notice(page)).to_have_text(
        "The store appliance cannot be reached: returns with a receipt need it."
        " Without it, use No receipt."
    )


def test_no_receipt_a_supervisor_pin_and_store_credit_at_todays_price(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    on_hand = quick_on_hand(rt, mug)
    start_selling(page, server.url)
    open_returns(page)
    page.get_by_role("button", name="No receipt", exact=True).click()
    # The item's barcode, scanned with no field focused, adds it at today's price.
    scan(page, "96385074")
    expect(page.get_by_test_id("refund-total")).to_have_text("€9.50")
    # A receipt-less item can also be searched for.
    page.get_by_label("Search the returned item").fill("classic tee m")
    page.get_by_role("button", name=re.compile("TEE-M-RED")).click()
    expect(page.get_by_test_id("refund-total")).to_have_text("€22.49")
    page.get_by_role("button", name=f"One less {TEE} back").click()
    expect(page.get_by_test_id("refund-total")).to_have_text("€9.50")
    pick_reason(page, MUG, "Changed mind")
    expect(page.get_by_role("button", name="Store credit", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_test_id("refund-to")).to_have_text("Refund €9.50 store credit")

    # A cashier may not refund without a receipt alone: a supervisor types their PIN.
    page.get_by_role("button", name="Refund €9.50").click()
    dialog = page.get_by_role("dialog", name="Refund without a receipt")
    expect(dialog).to_contain_text("€9.50 store credit")
    keypad(page, "0000")
    expect(dialog.get_by_role("alert")).to_be_visible()
    keypad(page, PINS["supervisor"])
    expect(dialog).to_have_count(0)
    number = f"{register_of(rt)}-000001"
    expect(notice(page)).to_have_text(f"Return {number} done. €9.50 store credit on SC-{number}.")

    doc = rt.db.one("SELECT * FROM return_doc WHERE receipt = ?", (number,))
    assert doc is not None
    assert (doc["original_sale"], doc["total"], doc["tax"]) == (None, 950, 158)
    line = rt.db.one("SELECT * FROM return_line WHERE return_id = ?", (doc["id"],))
    assert line is not None
    assert (line["original_line"], line["variant"], line["qty"], line["disposition"]) == (
        None,
        mug,
        1,
        "restock",
    )
    assert refunds(rt, number) == [("store_credit", -950, f"SC-{number}")]
    approval = rt.db.one("SELECT action, amount, approver_id, used_for FROM approval")
    assert approval is not None
    assert (approval["action"], approval["amount"]) == ("return_without_receipt", 950)
    assert approval["approver_id"] == store.staff["supervisor"]
    assert approval["used_for"] == doc["id"]
    assert quick_on_hand(rt, mug) == on_hand + 1


def test_an_exchange_takes_the_refund_as_credit_on_a_dearer_sale(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    tee_m, tee_l, mug = uid(rt, "TEE-M-RED"), uid(rt, "TEE-L-RED"), uid(rt, "MUG-1")
    _, receipt = sell_at(
        front_till(store),
        [Item(tee_m, 1, 1299)],
        [{"kind": "card", "amount": 1299, "reference": "AUTH-3"}],
    )
    start_selling(page, server.url)
    open_returns(page)
    scan(page, receipt)
    page.get_by_role("button", name=f"One more {TEE} back").click()
    pick_reason(page, TEE, "Wrong size")
    page.get_by_role("button", name="Exchange", exact=True).click()

    # The Sell screen carries the refund as credit; the customer pays the difference.
    search = page.get_by_label("Search products")
    expect(search).to_be_visible()
    expect(page.get_by_test_id("exchange-credit")).to_contain_text("Exchange credit −€12.99")
    search.fill("classic tee l")
    page.get_by_role("button", name=re.compile("TEE-L-RED")).click()
    search.fill("96385074")
    search.press("Enter")
    page.get_by_role("button", name="Pay €9.50").click()
    page.get_by_label("Amount").fill("10")
    page.get_by_role("button", name="Cash", exact=True).click()
    register = register_of(rt)
    expect(page.get_by_role("status").filter(has_text="done")).to_contain_text(
        f"Sale {register}-000002 done"
    )

    doc = rt.db.one("SELECT * FROM return_doc")
    sale = rt.db.one("SELECT * FROM sale WHERE id = ?", (doc["exchange"] if doc else None,))
    assert doc is not None and sale is not None
    assert (doc["receipt"], doc["total"], doc["tax"]) == (f"{register}-000001", 1299, 217)
    assert sale["total"] == 2249
    assert refunds(rt, doc["receipt"]) == [("exchange", -1299, None)]
    paid = rt.db.query(
        "SELECT kind, amount FROM payment WHERE event = ? ORDER BY idx", (sale["id"],)
    )
    assert sorted((p["kind"], p["amount"]) for p in paid) == [("cash", 950), ("exchange", 1299)]
    lines = rt.db.query("SELECT variant FROM sale_line WHERE sale = ? ORDER BY line", (sale["id"],))
    assert [r["variant"] for r in lines] == [tee_l, mug]


def test_a_sale_of_this_shift_is_post_voided_with_a_supervisors_pin(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    start_selling(page, server.url)
    search = page.get_by_label("Search products")
    search.fill("96385074")
    search.press("Enter")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.get_by_role("button", name="Cash", exact=True).click()
    page.get_by_role("button", name="No receipt").click()
    receipt = rt.db.scalar("SELECT receipt FROM sale")
    assert quick_on_hand(rt, mug) == -1

    open_returns(page)
    find(page, receipt)
    page.get_by_role("button", name="Void the whole sale").click()
    page.get_by_label("Why the sale is voided").select_option("Wrong payment taken")
    keypad(page, PINS["supervisor"])
    expect(page.get_by_role("status")).to_contain_text(
        f"Receipt {receipt} voided. Give back €9.50 cash"
    )

    void = rt.db.one("SELECT reason, actor FROM sale_void")
    assert void is not None and (void["reason"], void["actor"]) == (
        "Wrong payment taken",
        store.staff["cashier"],
    )
    assert rt.db.scalar("SELECT sum(amount) FROM payment") == 0
    assert quick_on_hand(rt, mug) == 0
    # A voided receipt cannot come back, nor be voided again.
    find(page, receipt)
    expect(page.get_by_role("status")).to_contain_text("was voided")
    expect(page.get_by_role("button", name="Void the whole sale")).to_have_count(0)


def test_a_sale_of_another_register_is_returned_not_voided(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    _, receipt = sell_at(
        front_till(store),
        [Item(uid(rt, "MUG-1"), 1, 950)],
        [{"kind": "cash", "amount": 950, "tendered": 950}],
    )
    start_selling(page, server.url)
    open_returns(page)
    find(page, receipt)
    expect(page.get_by_role("button", name=re.compile("One more"))).to_have_count(1)
    expect(page.get_by_role("button", name="Void the whole sale")).to_have_count(0)
