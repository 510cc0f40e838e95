"""Sales on the appliance (appliance/selling.py): projections, approvals, totals, tenders,
catalog versions, negative stock and post-voids, all through POST /api/v1/events."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.catalog.csvio import import_csv
from appliance.catalog.queries import head
from appliance.runtime import Runtime
from protocol.envelope import Override
from protocol.ids import new_id
from tests.appliance.selling.helpers import make_till, ok, on_hand, refused, uid
from tests.appliance.till import Item, Till
from tests.conftest import PINS, SMALL_CATALOG, FakeWall, Store

# ---- helpers shared by the tests below ----------------------------------------------------

# The float Till.open_shift counts by default.
FLOAT_COUNTS = {"2000": 5, "1000": 5, "500": 4, "100": 20}
FLOAT: dict[str, Any] = {"counts": FLOAT_COUNTS, "total": 19000}


def approve(
    store: Store, till: Till, action: str, amount: int | None, approver: str = "supervisor"
) -> str:
    """An approval id from POST /overrides, asked for on `till` by its logged-in staff."""
    body: dict[str, Any] = {
        "action": action,
        "reason": "customer service",
        "approver_pin": PINS[approver],
    }
    if amount is not None:
        body["amount"] = amount
    response = store.client.post(
        "/api/v1/overrides", json=body, headers=store.bearer(till.staff_token or "")
    )
    assert response.status_code == 201, response.get_json()
    approval: str = response.get_json()["id"]
    return approval


def receive(till: Till, rt: Runtime, **quantities: int) -> None:
    """Book goods in, so sales do not go negative."""
    lines = [
        {"variant": uid(rt, sku.replace("_", "-")), "qty": qty} for sku, qty in quantities.items()
    ]
    ok(till.send("stock.received", {"lines": lines, "reference": "DN-1"}))


def counts(rt: Runtime) -> dict[str, int]:
    return {
        table: int(rt.db.scalar(f"SELECT count(*) FROM {table}"))
        for table in ("event", "sale", "sale_line", "payment", "stock_ledger", "review_flag")
    }


@pytest.fixture
def till(store: Store, catalog: Runtime, wall: FakeWall) -> Till:
    return make_till(store, wall)


# ---- a sale, projected ---------------------------------------------------------------------


def test_three_lines_split_tenders_project_exactly(store: Store, till: Till) -> None:
    rt = store.rt
    receive(till, rt, TEE_M_RED=10, TEE_L_RED=10, MUG_1=10)
    tee_m, mug, tee_l = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1"), uid(rt, "TEE-L-RED")
    # By hand, tax included at 20 %: a line's tax is net / 6, rounded half-up.
    # 2 × 12.99 = 25.98 (tax 4.33); 9.50 (tax 1.583 → 1.58); 12.99 (tax 2.165 → 2.17).
    body = till.sale_body(
        [Item(tee_m, 2, 1299), Item(mug, 1, 950), Item(tee_l, 1, 1299)],
        tenders=[
            {"kind": "cash", "amount": 2000, "tendered": 5000},
            {"kind": "card", "amount": 2847, "reference": "AUTH-778"},
        ],
    )
    assert body["totals"] == {"subtotal": 4847, "discount": 0, "tax": 808, "total": 4847}
    data = ok(till.send("sale.completed", body))
    event = till.seq
    assert data["acked"] == {store.register_id: event}
    sale_id = rt.db.scalar("SELECT id FROM sale WHERE receipt = ?", (body["receipt"],))

    sale = rt.db.one("SELECT * FROM sale WHERE id = ?", (sale_id,))
    assert sale is not None
    assert (sale["subtotal"], sale["discount"], sale["tax"], sale["total"]) == (4847, 0, 808, 4847)
    assert (sale["register"], sale["shift"], sale["actor"], sale["currency"]) == (
        store.register_id,
        till.shift,
        store.staff["cashier"],
        "EUR",
    )
    lines = [
        tuple(row)
        for row in rt.db.query(
            "SELECT line, variant, qty, unit_price, list_price, gross, net, tax, total, voided"
            " FROM sale_line WHERE sale = ? ORDER BY line",
            (sale_id,),
        )
    ]
    assert lines == [
        (1, tee_m, 2, 1299, 1299, 2598, 2598, 433, 2598, 0),
        (2, mug, 1, 950, 950, 950, 950, 158, 950, 0),
        (3, tee_l, 1, 1299, 1299, 1299, 1299, 217, 1299, 0),
    ]
    payments = [
        tuple(row)
        for row in rt.db.query(
            "SELECT idx, shift, kind, amount, reference, tendered, change FROM payment"
            " WHERE event = ? ORDER BY idx",
            (sale_id,),
        )
    ]
    assert payments == [
        (0, till.shift, "cash", 2000, None, 5000, 3000),
        (1, till.shift, "card", 2847, "AUTH-778", None, None),
    ]
    moves = [
        tuple(row)
        for row in rt.db.query(
            "SELECT line, variant, kind, qty FROM stock_ledger WHERE event = ? ORDER BY line",
            (sale_id,),
        )
    ]
    assert moves == [(1, tee_m, "sale", -2), (2, mug, "sale", -1), (3, tee_l, "sale", -1)]
    assert (on_hand(store, "TEE-M-RED"), on_hand(store, "MUG-1"), on_hand(store, "TEE-L-RED")) == (
        8,
        9,
        9,
    )
    assert data["flagged"] == []

    receipt = till.receipt(body["receipt"])
    assert receipt["id"] == sale_id
    assert (receipt["total"], receipt["tax"], receipt["voided"]) == (4847, 808, False)
    assert [(ln["sku"], ln["qty"], ln["total"], ln["returnable"]) for ln in receipt["lines"]] == [
        ("TEE-M-RED", 2, 2598, 2),
        ("MUG-1", 1, 950, 1),
        ("TEE-L-RED", 1, 1299, 1),
    ]
    assert [(t["kind"], t["paid"], t["refunded"]) for t in receipt["tenders"]] == [
        ("cash", 2000, 0),
        ("card", 2847, 0),
    ]


def test_receipt_lookup_of_an_unknown_number_is_404(store: Store, till: Till) -> None:
    response = store.client.get(
        f"/api/v1/receipts/{store.register_id}-999999", headers=store.bearer(store.device)
    )
    refused(response, "unknown_receipt", 404)


def test_a_voided_line_is_out_of_the_totals_and_moves_no_stock(store: Store, till: Till) -> None:
    rt = store.rt
    receive(till, rt, TEE_M_RED=5, MUG_1=5)
    body = till.sale_body(
        [Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 2, 950, voided=True)]
    )
    assert body["totals"]["total"] == 1299
    ok(till.send("sale.completed", body))
    sale_id = rt.db.scalar("SELECT id FROM sale WHERE receipt = ?", (body["receipt"],))
    assert rt.db.scalar("SELECT total FROM sale WHERE id = ?", (sale_id,)) == 1299
    voided = rt.db.one(
        "SELECT voided, total, tax FROM sale_line WHERE sale = ? AND line = 2", (sale_id,)
    )
    assert voided is not None and tuple(voided) == (1, 0, 0)
    assert [
        r[0] for r in rt.db.query("SELECT line FROM stock_ledger WHERE event = ?", (sale_id,))
    ] == [1]
    assert (on_hand(store, "TEE-M-RED"), on_hand(store, "MUG-1")) == (4, 5)
    lines = till.receipt(body["receipt"])["lines"]
    assert [(ln["voided"], ln["returnable"]) for ln in lines] == [(False, 1), (True, 0)]

    # Totals that count the voided line are wrong.
    counted = till.sale_body([Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 2, 950)])
    counted["lines"][1]["voided"] = True
    refused(till.send("sale.completed", counted), "totals_mismatch")


# ---- price overrides and discounts ---------------------------------------------------------


def test_a_price_change_needs_an_approval_bound_to_the_new_price(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    before = counts(rt)
    data = refused(
        till.send("sale.completed", till.sale_body([Item(tee, 1, 999)])), "override_required"
    )
    assert data["details"]["action"] == "price_override"
    assert counts(rt) == before

    wrong_amount = approve(store, till, "price_override", 899)
    refused(
        till.send(
            "sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=wrong_amount)])
        ),
        "approval_invalid",
    )
    approval = approve(store, till, "price_override", 999)
    sent = till.send("sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=approval)]))
    ok(sent)
    line = rt.db.one(
        "SELECT unit_price, list_price, total FROM sale_line WHERE sale = ?", (sent.envelope.id,)
    )
    assert line is not None and tuple(line) == (999, 1299, 999)
    assert (
        rt.db.scalar("SELECT used_for FROM approval WHERE id = ?", (approval,)) == sent.envelope.id
    )


def test_a_price_approval_is_single_use(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    approval = approve(store, till, "price_override", 999)
    ok(till.send("sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=approval)])))
    data = refused(
        till.send("sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=approval)])),
        "approval_invalid",
    )
    assert "already used" in data["message"]


def test_a_supervisor_changes_a_price_without_an_approval(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = make_till(store, wall, "supervisor")
    ok(till.send("sale.completed", till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 500)])))


def test_a_discount_above_the_threshold_needs_an_approval_for_its_amount(
    store: Store, till: Till
) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    # 15 % of 12.99 is 1.9485 → 1.95 off.
    body = till.sale_body([Item(tee, 1, 1299, discount=("percent", 1500))])
    assert body["totals"]["discount"] == 195
    data = refused(till.send("sale.completed", body), "override_required")
    assert data["details"]["action"] == "discount_over_threshold"
    price_approval = approve(store, till, "price_override", 195)
    refused(
        till.send(
            "sale.completed",
            till.sale_body(
                [Item(tee, 1, 1299, discount=("percent", 1500), discount_approval=price_approval)]
            ),
        ),
        "approval_invalid",
    )
    other_amount = approve(store, till, "discount_over_threshold", 194)
    refused(
        till.send(
            "sale.completed",
            till.sale_body(
                [Item(tee, 1, 1299, discount=("percent", 1500), discount_approval=other_amount)]
            ),
        ),
        "approval_invalid",
    )
    approval = approve(store, till, "discount_over_threshold", 195)
    sent = till.send(
        "sale.completed",
        till.sale_body(
            [Item(tee, 1, 1299, discount=("percent", 1500), discount_approval=approval)]
        ),
    )
    ok(sent)
    assert store.rt.db.scalar("SELECT total FROM sale WHERE id = ?", (sent.envelope.id,)) == 1104


@pytest.mark.parametrize(
    ("sku", "price", "discount"),
    [
        ("TEE-M-RED", 1299, ("amount", 129)),  # 9.93 %
        ("MUG-1", 950, ("amount", 95)),  # exactly 10 %
        ("MUG-1", 950, ("percent", 1000)),  # exactly 10 %: 0.95
        ("TEE-M-RED", 1299, ("percent", 1000)),  # 10 %: 1.299 rounds to 1.30
        ("TEE-M-RED", 1299, ("percent", 500)),
    ],
    ids=["amount-below", "amount-at", "percent-at", "percent-at-rounded-up", "percent-below"],
)
def test_a_discount_at_or_below_the_threshold_needs_no_approval(
    store: Store, till: Till, sku: str, price: int, discount: tuple[str, int]
) -> None:
    body = till.sale_body([Item(uid(store.rt, sku), 1, price, discount=discount)])
    ok(till.send("sale.completed", body))


def test_an_amount_discount_a_cent_above_the_threshold_needs_an_approval(
    store: Store, till: Till
) -> None:
    # 1.30 off 12.99 is 10.008 %: above 10 %.
    body = till.sale_body([Item(uid(store.rt, "TEE-M-RED"), 1, 1299, discount=("amount", 130))])
    refused(till.send("sale.completed", body), "override_required")


def test_an_order_discount_above_the_threshold_needs_an_approval(store: Store, till: Till) -> None:
    rt = store.rt
    items = [Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 1, 950)]
    # 20 % of 22.49 = 4.498 → 4.50 off the order.
    body = till.sale_body(items, order_discount=("percent", 2000))
    assert body["totals"]["discount"] == 450
    refused(till.send("sale.completed", body), "override_required")
    refused(
        till.send(
            "sale.completed",
            till.sale_body(
                items,
                order_discount=("percent", 2000),
                order_discount_approval=approve(store, till, "discount_over_threshold", 449),
            ),
        ),
        "approval_invalid",
    )
    approval = approve(store, till, "discount_over_threshold", 450)
    sent = till.send(
        "sale.completed",
        till.sale_body(items, order_discount=("percent", 2000), order_discount_approval=approval),
    )
    ok(sent)
    rows = rt.db.query("SELECT order_discount FROM sale_line WHERE sale = ?", (sent.envelope.id,))
    assert sum(r[0] for r in rows) == 450
    assert rt.db.scalar("SELECT total FROM sale WHERE id = ?", (sent.envelope.id,)) == 2249 - 450
    # At the threshold, no approval: 10 % off the order.
    ok(till.send("sale.completed", till.sale_body(items, order_discount=("percent", 1000))))
    ok(till.send("sale.completed", till.sale_body(items, order_discount=("amount", 224))))


# ---- bad input: refused live with the reason, nothing stored --------------------------------


def test_totals_that_do_not_match_the_shared_pricing_are_refused(store: Store, till: Till) -> None:
    rt = store.rt
    body = till.sale_body([Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 1, 950)])
    right = dict(body["totals"])
    body["totals"] = {**right, "tax": right["tax"] + 1}
    before = counts(rt)
    data = refused(till.send("sale.completed", body), "totals_mismatch")
    assert (
        data["details"]["expected"]
        == right
        == {
            "subtotal": 2249,
            "discount": 0,
            "tax": 375,
            "total": 2249,
        }
    )
    assert counts(rt) == before


@pytest.mark.parametrize(
    ("tenders", "code"),
    [
        ([{"kind": "card", "amount": 1298, "reference": "A"}], "tenders_mismatch"),
        (
            [{"kind": "cash", "amount": 1000}, {"kind": "card", "amount": 300, "reference": "A"}],
            "tenders_mismatch",
        ),
        ([{"kind": "cash", "amount": 1299, "tendered": 1000}], "bad_tender"),
        ([{"kind": "card", "amount": 1299}], "bad_tender"),
        ([{"kind": "card", "amount": 1299, "tendered": 2000, "reference": "A"}], "bad_tender"),
        ([{"kind": "gift_card", "amount": 1299}], "bad_tender"),
    ],
    ids=[
        "short",
        "split-over",
        "cash-tendered-below",
        "card-without-reference",
        "card-with-change",
        "gift-card-without-number",
    ],
)
def test_tenders_must_add_up_and_be_well_formed(
    store: Store, till: Till, tenders: list[dict[str, Any]], code: str
) -> None:
    before = counts(store.rt)
    body = till.sale_body([Item(uid(store.rt, "TEE-M-RED"), 1, 1299)], tenders=tenders)
    refused(till.send("sale.completed", body), code)
    assert counts(store.rt) == before


def test_cash_exactly_tendered_gives_no_change(store: Store, till: Till) -> None:
    body = till.sale_body(
        [Item(uid(store.rt, "MUG-1"), 1, 950)],
        tenders=[{"kind": "cash", "amount": 950, "tendered": 950}],
    )
    sent = till.send("sale.completed", body)
    ok(sent)
    assert (
        store.rt.db.scalar("SELECT change FROM payment WHERE event = ?", (sent.envelope.id,)) == 0
    )


@pytest.mark.parametrize("qty", [0, -1])
def test_a_quantity_below_one_is_a_body_error(store: Store, till: Till, qty: int) -> None:
    body = till.sale_body([Item(uid(store.rt, "TEE-M-RED"), 1, 1299)])
    body["lines"][0]["qty"] = qty
    before = counts(store.rt)
    data = refused(till.send("sale.completed", body), "invalid_body")
    assert data["details"]["path"] == "$.lines[0].qty"
    assert counts(store.rt) == before


def test_an_unknown_variant_is_refused(store: Store, till: Till) -> None:
    body = till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950), Item(new_id(), 1, 500)])
    data = refused(till.send("sale.completed", body), "unknown_variant")
    assert data["details"]["line"] == 2


def test_a_sale_on_a_closed_shift_is_refused(store: Store, till: Till) -> None:
    closed_shift = till.shift
    ok(till.send("shift.closed", {"shift": closed_shift, "cash": FLOAT}))
    body = till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950)])
    data = refused(till.send("sale.completed", body), "shift_closed")
    assert data["details"]["shift"] == closed_shift


def test_a_sale_on_an_unknown_shift_is_refused(store: Store, till: Till) -> None:
    till.shift = new_id()
    refused(
        till.send("sale.completed", till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950)])),
        "unknown_shift",
    )


def test_a_sale_on_another_registers_shift_is_refused(
    store: Store, till: Till, wall: FakeWall
) -> None:
    register, device = store.new_register("Back till")
    other = Till(store.client, "s01", register, device, wall, actor=store.staff["cashier2"])
    other.staff_token = store.login("cashier2", device=device)
    ok(other.open_shift())
    till.shift = other.shift
    refused(
        till.send("sale.completed", till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950)])),
        "wrong_shift",
    )


def test_a_sale_in_another_currency_is_refused(store: Store, till: Till) -> None:
    body = till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950)])
    body["currency"] = "USD"
    refused(till.send("sale.completed", body), "wrong_currency")


def test_a_receipt_number_is_never_reused(store: Store, till: Till) -> None:
    mug = uid(store.rt, "MUG-1")
    first = till.sale_body([Item(mug, 1, 950)])
    ok(till.send("sale.completed", first))
    again = till.sale_body([Item(mug, 2, 950)], receipt=first["receipt"])
    data = refused(till.send("sale.completed", again), "duplicate_receipt")
    assert data["details"]["receipt"] == first["receipt"]
    assert till.receipt(first["receipt"])["total"] == 950


def test_a_receipt_number_of_another_register_is_refused(store: Store, till: Till) -> None:
    body = till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950)], receipt="s01-r77-000001")
    refused(till.send("sale.completed", body), "wrong_receipt")


# ---- prices at a catalog version -----------------------------------------------------------


def test_a_price_from_an_older_catalog_version_is_honoured(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    old_version = head(rt.db)
    report = import_csv(
        rt,
        SMALL_CATALOG.replace(
            "4.50,12.99,standard,5,24,1,1\r\nTEE-L", "4.50,14.99,standard,5,24,1,1\r\nTEE-L"
        ).encode(),
    )
    assert report.applied, report
    new_version = head(rt.db)
    assert new_version > old_version
    assert rt.db.scalar("SELECT price FROM variant WHERE uid = ?", (tee,)) == 1499

    # Rung up offline before the register pulled the change: the old price stands.
    old = till.sale_body([Item(tee, 1, 1299)], catalog_version=old_version)
    sent = till.send("sale.completed", old)
    ok(sent)
    row = rt.db.one("SELECT catalog_version FROM sale WHERE id = ?", (sent.envelope.id,))
    assert row is not None and row[0] == old_version
    assert (
        rt.db.scalar("SELECT list_price FROM sale_line WHERE sale = ?", (sent.envelope.id,)) == 1299
    )
    # At the new version the old price is a price change.
    refused(
        till.send(
            "sale.completed", till.sale_body([Item(tee, 1, 1299)], catalog_version=new_version)
        ),
        "override_required",
    )
    ok(
        till.send(
            "sale.completed", till.sale_body([Item(tee, 1, 1499)], catalog_version=new_version)
        )
    )
    # And the new price at the old version is one too.
    refused(
        till.send(
            "sale.completed", till.sale_body([Item(tee, 1, 1499)], catalog_version=old_version)
        ),
        "override_required",
    )


def test_a_catalog_version_before_the_variant_existed_has_no_price(
    store: Store, till: Till
) -> None:
    body = till.sale_body([Item(uid(store.rt, "MUG-1"), 1, 950)], catalog_version=0)
    refused(till.send("sale.completed", body), "unknown_price")


# ---- stock ---------------------------------------------------------------------------------


def test_negative_stock_is_allowed_and_flagged(store: Store, till: Till) -> None:
    rt = store.rt
    receive(till, rt, MUG_1=1)
    body = till.sale_body([Item(uid(rt, "MUG-1"), 3, 950)])
    sent = till.send("sale.completed", body)
    data = ok(sent)
    assert [f["code"] for e in data["flagged"] for f in e["flags"]] == ["negative_stock"]
    assert data["flagged"][0]["id"] == sent.envelope.id
    assert on_hand(store, "MUG-1") == -2
    manager = store.login("manager")
    flags = store.client.get("/api/v1/review", headers=store.bearer(manager)).get_json()["flags"]
    assert [(f["event"], f["code"]) for f in flags] == [(sent.envelope.id, "negative_stock")]
    assert "MUG-1" in flags[0]["message"]


# ---- post-void -----------------------------------------------------------------------------


def void_override(store: Store, approval: str) -> Override:
    return Override(
        id=approval, action="post_void", approver=store.staff["supervisor"], offline=False
    )


def sold(store: Store, till: Till) -> tuple[str, dict[str, Any]]:
    """A sale paid in cash (with change) and by card, after booking stock in."""
    rt = store.rt
    receive(till, rt, TEE_M_RED=5, MUG_1=5)
    body = till.sale_body(
        [Item(uid(rt, "TEE-M-RED"), 2, 1299), Item(uid(rt, "MUG-1"), 1, 950)],
        tenders=[
            {"kind": "cash", "amount": 1000, "tendered": 2000},
            {"kind": "card", "amount": 2548, "reference": "AUTH-1"},
        ],
    )
    sent = till.send("sale.completed", body)
    ok(sent)
    return sent.envelope.id, body


def void_body(sale_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"sale": sale_id, "receipt": body["receipt"], "reason": "customer changed their mind"}


def test_a_post_void_needs_a_supervisor_approval_for_the_sale_total(
    store: Store, till: Till
) -> None:
    rt = store.rt
    sale_id, body = sold(store, till)
    assert body["totals"]["total"] == 3548
    wrong = approve(store, till, "post_void", 3547)
    before = counts(rt)
    refused(till.send("sale.voided", void_body(sale_id, body)), "override_required")
    refused(
        till.send("sale.voided", void_body(sale_id, body), override=void_override(store, wrong)),
        "approval_invalid",
    )
    assert counts(rt) == before

    approval = approve(store, till, "post_void", 3548)
    sent = till.send(
        "sale.voided", void_body(sale_id, body), override=void_override(store, approval)
    )
    ok(sent)
    reversed_payments = [
        tuple(r)
        for r in rt.db.query(
            "SELECT kind, amount, reference, shift FROM payment WHERE event = ? ORDER BY idx",
            (sent.envelope.id,),
        )
    ]
    assert reversed_payments == [
        ("cash", -1000, None, till.shift),
        ("card", -2548, "AUTH-1", till.shift),
    ]
    moves = [
        tuple(r)
        for r in rt.db.query(
            "SELECT variant, kind, qty FROM stock_ledger WHERE event = ? ORDER BY line",
            (sent.envelope.id,),
        )
    ]
    assert moves == [(uid(rt, "TEE-M-RED"), "void", 2), (uid(rt, "MUG-1"), "void", 1)]
    assert (on_hand(store, "TEE-M-RED"), on_hand(store, "MUG-1")) == (5, 5)
    receipt = till.receipt(body["receipt"])
    assert receipt["voided"] is True
    assert [ln["returnable"] for ln in receipt["lines"]] == [0, 0]
    assert rt.db.scalar("SELECT SUM(amount) FROM payment WHERE shift = ?", (till.shift,)) == 0

    # Never twice, even with a fresh approval.
    again = approve(store, till, "post_void", 3548)
    refused(
        till.send("sale.voided", void_body(sale_id, body), override=void_override(store, again)),
        "already_voided",
    )


def test_a_supervisor_post_voids_without_an_approval(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = make_till(store, wall, "supervisor")
    sale_id, body = sold(store, till)
    ok(till.send("sale.voided", void_body(sale_id, body)))


def test_a_post_void_is_only_for_the_same_open_shift(store: Store, till: Till) -> None:
    sale_id, body = sold(store, till)
    # The float and the 10.00 cash taken.
    counted = {"counts": {**FLOAT_COUNTS, "1000": 6}, "total": 20000}
    ok(till.send("shift.closed", {"shift": till.shift, "cash": counted}))
    ok(till.open_shift())
    approval = approve(store, till, "post_void", 3548)
    refused(
        till.send("sale.voided", void_body(sale_id, body), override=void_override(store, approval)),
        "shift_closed",
    )
    assert not store.rt.db.scalar("SELECT used_ms FROM approval WHERE id = ?", (approval,))


def test_a_post_void_from_another_register_is_refused(
    store: Store, till: Till, wall: FakeWall
) -> None:
    sale_id, body = sold(store, till)
    register, device = store.new_register("Back till")
    other = Till(store.client, "s01", register, device, wall, actor=store.staff["supervisor"])
    other.staff_token = store.login("supervisor", device=device)
    ok(other.open_shift())
    refused(other.send("sale.voided", void_body(sale_id, body)), "void_elsewhere")


def test_a_post_void_after_a_return_is_refused(store: Store, till: Till) -> None:
    rt = store.rt
    sale_id, body = sold(store, till)
    ret = {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "original": body["receipt"],
        "lines": [
            {
                "line": 1,
                "original_line": 2,
                "variant": uid(rt, "MUG-1"),
                "qty": 1,
                "refund": 950,
                "tax": 158,
                "reason": "changed_mind",
            }
        ],
        "tenders": [{"kind": "cash", "amount": 950}],
        "totals": {"total": 950, "tax": 158},
    }
    ok(till.send("return.completed", ret))
    approval = approve(store, till, "post_void", 3548)
    refused(
        till.send("sale.voided", void_body(sale_id, body), override=void_override(store, approval)),
        "already_returned",
    )


def test_a_post_void_of_an_unknown_sale_is_refused(store: Store, till: Till) -> None:
    approval = approve(store, till, "post_void", 100)
    refused(
        till.send(
            "sale.voided",
            {"sale": new_id(), "receipt": f"{store.register_id}-000099", "reason": "x"},
            override=void_override(store, approval),
        ),
        "unknown_sale",
    )


def test_the_envelope_names_the_approver_who_approved(store: Store, till: Till) -> None:
    """The journal says who approved a post-void; it must be who typed their PIN."""
    sale_id, body = sold(store, till)
    approval = approve(store, till, "post_void", 3548)
    claimed = Override(
        id=approval, action="post_void", approver=store.staff["manager"], offline=False
    )
    refused(
        till.send("sale.voided", void_body(sale_id, body), override=claimed), "approval_invalid"
    )
    ok(till.send("sale.voided", void_body(sale_id, body), override=void_override(store, approval)))


@pytest.mark.parametrize(
    ("discount", "order_discount"),
    [
        (("amount", 1300), None),
        (("percent", 10_001), None),
        (None, ("amount", 1300)),
        (None, ("percent", 20_000)),
    ],
    ids=[
        "line-amount-over-price",
        "line-percent-over-100",
        "order-amount-over-basket",
        "order-percent-over-100",
    ],
)
def test_a_discount_larger_than_what_it_comes_off_is_refused(
    store: Store,
    till: Till,
    discount: tuple[str, int] | None,
    order_discount: tuple[str, int] | None,
) -> None:
    body = till.sale_body([Item(uid(store.rt, "TEE-M-RED"), 1, 1299)])
    if discount is not None:
        body["lines"][0]["discount"] = {"kind": discount[0], "value": discount[1]}
    if order_discount is not None:
        body["order_discount"] = {"kind": order_discount[0], "value": order_discount[1]}
    before = counts(store.rt)
    refused(till.send("sale.completed", body), "bad_discount")
    assert counts(store.rt) == before


def test_a_replayed_sale_with_an_impossible_discount_is_kept_and_flagged(
    store: Store, till: Till
) -> None:
    rt = store.rt
    body = till.sale_body([Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 1, 950)])
    body["lines"][0]["discount"] = {"kind": "amount", "value": 5000}
    body["order_discount"] = {"kind": "percent", "value": 15_000}
    env = till.event("sale.completed", body)
    data = ok(till.push(env, mode="replay", token=store.device))
    codes = [f["code"] for f in data["flagged"][0]["flags"]]
    assert "bad_discount" in codes
    # Kept, priced as everything off: nothing was charged.
    row = rt.db.one("SELECT subtotal, discount, total FROM sale WHERE id = ?", (env.id,))
    assert row is not None and tuple(row) == (2249, 2249, 0)


@pytest.mark.parametrize("mode", ["live", "replay"])
def test_line_numbers_are_unique(store: Store, till: Till, mode: str) -> None:
    rt = store.rt
    body = till.sale_body([Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 1, 950)])
    body["lines"][1]["line"] = 1
    if mode == "live":
        refused(till.send("sale.completed", body), "duplicate_line")
        return
    env = till.event("sale.completed", body)
    data = ok(till.push(env, mode="replay", token=store.device))
    assert "duplicate_line" in [f["code"] for f in data["flagged"][0]["flags"]]
    assert rt.db.scalar("SELECT total FROM sale WHERE id = ?", (env.id,)) == 2249


def test_an_approval_expires_after_a_minute_live_but_not_on_replay(
    store: Store, till: Till, wall: FakeWall
) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    approval = approve(store, till, "price_override", 999)
    wall.advance(61)
    body = till.sale_body([Item(tee, 1, 999, price_approval=approval)])
    data = refused(till.send("sale.completed", body), "approval_invalid")
    assert "expired" in data["message"]
    # Offline, the register checked it in time; on replay it is used, not flagged.
    env = till.event("sale.completed", body)
    data = ok(till.push(env, mode="replay", token=store.device))
    assert [f["code"] for e in data["flagged"] for f in e["flags"]] == ["negative_stock"]
    assert store.rt.db.scalar("SELECT used_for FROM approval WHERE id = ?", (approval,)) == env.id
