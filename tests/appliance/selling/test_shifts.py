"""Shifts and cash: floats by denomination, pay-ins and pay-outs, no-sales, blind closes,
X and Z reports (numbered, immutable), and the store's day across registers."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.db import IntegrityError
from appliance.runtime import Runtime
from protocol.envelope import Override, format_at
from protocol.ids import new_id
from tests.appliance.selling.helpers import as_staff, till_for
from tests.appliance.till import Item, Till
from tests.conftest import PINS, FakeWall, Store

FLOAT_100 = {"2000": 2, "1000": 3, "500": 4, "100": 10}  # 40 + 30 + 20 + 10 = 100.00


def uid(rt: Runtime, sku: str) -> str:
    value: str = rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,))
    return value


def approve(store: Store, till: Till, action: str, amount: int | None = None) -> Override:
    """A supervisor types their PIN on the till: an approval bound to action (and amount)."""
    payload: dict[str, Any] = {
        "action": action,
        "reason": "asked at the till",
        "approver_pin": PINS["supervisor"],
    }
    if amount is not None:
        payload["amount"] = amount
    response = store.client.post(
        "/api/v1/overrides", json=payload, headers=store.bearer(till.staff_token or "")
    )
    assert response.status_code == 201, response.get_json()
    return Override(
        id=response.get_json()["id"],
        action=action,
        approver=store.staff["supervisor"],
        offline=False,
    )


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    data: dict[str, Any] = response.get_json()
    assert data["error"] == code, data
    return data


def cash_move(till: Till, kind: str, amount: int, reason: str, **kwargs: Any) -> Any:
    return till.send(
        "cash.moved",
        {"shift": till.shift, "kind": kind, "amount": amount, "reason": reason},
        **kwargs,
    )


def close(till: Till, cash: dict[str, int], counted: dict[str, int] | None = None) -> Any:
    body: dict[str, Any] = {
        "shift": till.shift,
        "cash": {"counts": cash, "total": sum(int(k) * v for k, v in cash.items())},
    }
    if counted is not None:
        body["counted"] = counted
    return till.send("shift.closed", body)


def report(store: Store, token: str, shift: str | None, kind: str) -> Any:
    return store.client.get(
        f"/api/v1/shifts/{shift}/report?kind={kind}", headers=store.bearer(token)
    )


def sell(till: Till, items: list[Item], tenders: list[dict[str, Any]] | None = None) -> Any:
    body = till.sale_body(items, tenders=tenders)
    response = till.send("sale.completed", body)
    ok(response)
    return body


def return_whole_line(
    till: Till,
    sale: dict[str, Any],
    line: int,
    tenders: list[dict[str, Any]],
    reason: str = "changed_mind",
) -> Any:
    """Return every unit of one receipt line, refunded exactly what that line cost."""
    held = till.receipt(sale["receipt"])
    sold = next(row for row in held["lines"] if row["line"] == line)
    body = {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "original": sale["receipt"],
        "lines": [
            {
                "line": 1,
                "original_line": line,
                "variant": sold["variant"],
                "qty": sold["qty"],
                "refund": sold["total"],
                "tax": sold["tax"],
                "reason": reason,
            }
        ],
        "tenders": tenders,
        "totals": {"total": sold["total"], "tax": sold["tax"]},
    }
    return till.send("return.completed", body)


# ---- opening ----------------------------------------------------------------------------


def test_open_shift_with_a_float_counted_by_denomination(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = till_for(store, wall)
    bad = till.send(
        "shift.opened",
        {"shift": new_id(), "float": {"counts": {"2000": 2, "500": 1}, "total": 5000}},
    )
    details = refused(bad, 422, "count_mismatch")["details"]
    assert details["counted"] == 4500
    assert store.rt.db.scalar("SELECT count(*) FROM shift") == 0
    assert store.rt.db.scalar("SELECT count(*) FROM event WHERE type = 'shift.opened'") == 0

    ok(till.open_shift(FLOAT_100))
    row = store.rt.db.one("SELECT * FROM shift WHERE id = ?", (till.shift,))
    assert row is not None
    assert row["float_total"] == 10000
    assert row["register"] == store.register_id
    assert row["opened_by"] == store.staff["cashier"]
    current = ok(store.client.get("/api/v1/shifts/current", headers=store.bearer(store.device)))
    assert current["id"] == till.shift
    assert current["float_total"] == 10000
    assert current["closed"] is False


def test_only_one_open_shift_per_register(store: Store, catalog: Runtime, wall: FakeWall) -> None:
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    first = till.shift
    refused(till.open_shift(FLOAT_100), 422, "shift_open")
    till.shift = first
    assert store.rt.db.scalar("SELECT count(*) FROM shift") == 1

    # Another register has its own shift.
    other = till_for(store, wall, "cashier2", register=store.new_register("Back till"))
    ok(other.open_shift(FLOAT_100))

    # Once closed, the register opens the next one.
    ok(close(till, FLOAT_100))
    ok(till.open_shift(FLOAT_100))
    assert till.shift != first
    assert store.rt.db.scalar("SELECT count(*) FROM shift WHERE closed_event IS NULL") == 2


# ---- cash moves -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pay_in", "pay_out"])
def test_pay_in_and_pay_out_need_a_supervisor_or_an_approval_for_the_amount(
    store: Store, catalog: Runtime, wall: FakeWall, kind: str
) -> None:
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    reason = "float_top_up" if kind == "pay_in" else "supplies"

    refused(cash_move(till, kind, 2000, reason), 422, "override_required")

    wrong = approve(store, till, kind, 1500)
    refused(cash_move(till, kind, 2000, reason, override=wrong), 422, "approval_invalid")
    # A refused event leaves the approval unused: it still works for its own amount.
    ok(cash_move(till, kind, 1500, reason, override=wrong))

    right = approve(store, till, kind, 2000)
    accepted = ok(cash_move(till, kind, 2000, reason, override=right))
    assert accepted["acked"] == {store.register_id: till.seq}
    used = store.rt.db.one("SELECT used_for, used_ms FROM approval WHERE id = ?", (right.id,))
    assert used is not None and used["used_ms"] is not None
    # Used once, never again.
    refused(cash_move(till, kind, 2000, reason, override=right), 422, "approval_invalid")
    # An approval for the other direction does not count.
    other = approve(store, till, "pay_out" if kind == "pay_in" else "pay_in", 2000)
    refused(cash_move(till, kind, 2000, reason, override=other), 422, "override_required")

    # A supervisor on the same shift needs nobody.
    ok(cash_move(as_staff(store, till, "supervisor"), kind, 700, reason))

    sign = 1 if kind == "pay_in" else -1
    amounts = sorted(
        row[0]
        for row in store.rt.db.query(
            "SELECT amount FROM cash_movement WHERE shift = ? AND kind = ?", (till.shift, kind)
        )
    )
    assert amounts == sorted(sign * a for a in (1500, 2000, 700))
    x = ok(report(store, store.login("supervisor"), till.shift, "x"))
    moved = 1500 + 2000 + 700
    assert x["cash"]["pay_ins" if kind == "pay_in" else "pay_outs"] == moved
    assert x["cash"]["expected"] == 10000 + sign * moved
    assert x["overrides"] == 2


def test_a_cash_move_needs_an_amount(store: Store, catalog: Runtime, wall: FakeWall) -> None:
    till = till_for(store, wall, "supervisor")
    ok(till.open_shift(FLOAT_100))
    refused(cash_move(till, "pay_out", 0, "supplies"), 422, "bad_amount")


def test_no_sale_needs_an_approval_and_moves_no_money(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    refused(cash_move(till, "no_sale", 0, "customer_change"), 422, "override_required")
    # A pay-in approval is not a no-sale approval.
    refused(
        cash_move(
            till, "no_sale", 0, "customer_change", override=approve(store, till, "pay_in", 500)
        ),
        422,
        "override_required",
    )
    approval = approve(store, till, "no_sale")
    refused(
        cash_move(till, "no_sale", 500, "customer_change", override=approval), 422, "bad_amount"
    )
    ok(cash_move(till, "no_sale", 0, "customer_change", override=approval))

    x = ok(report(store, store.login("supervisor"), till.shift, "x"))
    assert x["no_sales"] == 1
    assert x["overrides"] == 1
    assert x["cash"]["expected"] == 10000
    assert x["cash"]["pay_ins"] == x["cash"]["pay_outs"] == 0
    assert (
        store.rt.db.scalar(
            "SELECT amount FROM cash_movement WHERE shift = ? AND kind = 'no_sale'", (till.shift,)
        )
        == 0
    )


def test_an_unknown_cash_reason_is_refused(store: Store, catalog: Runtime, wall: FakeWall) -> None:
    till = till_for(store, wall, "supervisor")
    ok(till.open_shift(FLOAT_100))
    refused(cash_move(till, "pay_in", 1000, "lottery_win"), 422, "unknown_reason")
    # A return reason is not a cash reason.
    refused(cash_move(till, "pay_in", 1000, "changed_mind"), 422, "unknown_reason")
    assert store.rt.db.scalar("SELECT count(*) FROM cash_movement") == 0


# ---- the hand-computed shift ------------------------------------------------------------


def test_a_hand_computed_shift_and_its_z_report(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Float 100.00; three sales (cash with change, card, split); a cash refund; a pay-in of
    20.00 and a pay-out of 15.50; the drawer counted one cent short. Every figure by hand."""
    rt = store.rt
    tee_m, tee_l, mug = uid(rt, "TEE-M-RED"), uid(rt, "TEE-L-RED"), uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    opened_at = format_at(wall.ms)

    # 1. A tee, 12.99 (tax 20 % included: 12.99 / 6 = 2.165 → 2.17), paid with a 20 note.
    wall.advance(60)
    sell(till, [Item(tee_m, 1, 1299)], [{"kind": "cash", "amount": 1299, "tendered": 2000}])
    # 2. Two mugs at 9.50 = 19.00 (tax 3.1666 → 3.17) by card; a tee rung up and line-voided.
    wall.advance(60)
    sell(
        till,
        [Item(mug, 2, 950), Item(tee_m, 1, 1299, voided=True)],
        [{"kind": "card", "amount": 1900, "reference": "T-2"}],
    )
    # 3. A tee (tax 2.17) and a mug (9.50 / 6 = 1.583 → 1.58) = 22.49: 10.00 cash, 12.49 card.
    wall.advance(60)
    split = sell(
        till,
        [Item(tee_l, 1, 1299), Item(mug, 1, 950)],
        [
            {"kind": "cash", "amount": 1000, "tendered": 1000},
            {"kind": "card", "amount": 1249, "reference": "T-3"},
        ],
    )
    # The mug of sale 3 comes back: 9.50 (tax 1.58) in cash.
    wall.advance(60)
    ok(return_whole_line(till, split, 2, [{"kind": "cash", "amount": 950}]))
    # 20.00 in (change from the bank), 15.50 out (supplies), a no-sale: each approved.
    ok(cash_move(till, "pay_in", 2000, "change_run", override=approve(store, till, "pay_in", 2000)))
    ok(cash_move(till, "pay_out", 1550, "supplies", override=approve(store, till, "pay_out", 1550)))
    ok(cash_move(till, "no_sale", 0, "customer_change", override=approve(store, till, "no_sale")))

    # Expected drawer: 100.00 + (12.99 + 10.00) − 9.50 + 20.00 − 15.50 = 117.99; counted 117.98.
    wall.advance(60)
    closed_at = format_at(wall.ms)
    drawer = {
        "5000": 1,
        "2000": 2,
        "1000": 2,
        "500": 1,
        "200": 1,
        "50": 1,
        "20": 2,
        "5": 1,
        "2": 1,
        "1": 1,
    }
    assert sum(int(k) * v for k, v in drawer.items()) == 11798
    closing = ok(close(till, drawer, {"card": 3149}))
    [flag] = closing["flagged"]
    assert [f["code"] for f in flag["flags"]] == ["cash_over_short"]
    assert "short by 1" in flag["flags"][0]["message"]

    z = ok(report(store, till.staff_token or "", till.shift, "z"))
    printed_at = z.pop("printed_at")
    assert isinstance(printed_at, str)
    assert z == {
        "kind": "z",
        "number": 1,
        "store": "s01",
        "currency": "EUR",
        "shift": till.shift,
        "register": store.register_id,
        "opened_at": opened_at,
        "opened_by": store.staff["cashier"],
        "closed_at": closed_at,
        "closed_by": store.staff["cashier"],
        # 12.99 + 19.00 + 22.49 = 54.48; tax 2.17 + 3.17 + (2.17 + 1.58) = 9.09
        "sales": {"count": 3, "gross": 5448, "discounts": 0, "tax": 909, "total": 5448},
        "voids": {"count": 0, "total": 0, "tax": 0},
        "returns": {"count": 1, "total": 950, "tax": 158},
        "net_sales": 4498,
        "net_tax": 751,
        "taxes": [{"rate_ppm": 200_000, "sales": 4498, "tax": 751}],
        "tenders": [
            {"kind": "cash", "expected": 11799, "counted": 11798, "difference": -1},
            # 19.00 + 12.49
            {"kind": "card", "expected": 3149, "counted": 3149, "difference": 0},
        ],
        "cash": {
            "float": 10000,
            "taken": 2299,
            "paid_out": 950,
            "pay_ins": 2000,
            "pay_outs": 1550,
            "expected": 11799,
            "counted": 11798,
            "over_short": -1,
        },
        "no_sales": 1,
        "line_voids": 1,
        "overrides": 3,
    }
    # The Z report is stored once, as it was at close.
    stored = rt.db.one(
        "SELECT number, register, event FROM z_report WHERE shift = ?", (till.shift,)
    )
    assert stored is not None
    assert (stored["number"], stored["register"]) == (1, store.register_id)
    wall.advance(600)
    again = ok(report(store, store.login("supervisor"), till.shift, "z"))
    assert again["printed_at"] == printed_at
    assert (
        rt.db.scalar(
            "SELECT count(*) FROM review_flag WHERE code = 'cash_over_short' AND event = ?",
            (stored["event"],),
        )
        == 1
    )


def test_card_expected_is_card_sales_less_card_refunds(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Over or short per tender: each tender's counted total against what it took."""
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    first = sell(
        till,
        [Item(tee, 1, 1299), Item(mug, 1, 950)],
        [{"kind": "card", "amount": 2249, "reference": "T-1"}],
    )
    sell(till, [Item(mug, 1, 950)], [{"kind": "card", "amount": 950, "reference": "T-2"}])
    ok(return_whole_line(till, first, 1, [{"kind": "card", "amount": 1299, "reference": "T-1"}]))
    # Card: 22.49 + 9.50 − 12.99 = 19.00. The terminal's batch says 18.00: short by 1.00.
    closing = ok(close(till, FLOAT_100, {"card": 1800}))
    assert closing["flagged"] == []  # the cash drawer itself is exact
    z = ok(report(store, till.staff_token or "", till.shift, "z"))
    assert z["tenders"] == [
        {"kind": "cash", "expected": 10000, "counted": 10000, "difference": 0},
        {"kind": "card", "expected": 1900, "counted": 1800, "difference": -100},
    ]
    assert z["cash"]["over_short"] == 0
    assert (z["net_sales"], z["returns"]["total"]) == (1900, 1299)


def test_a_tender_counted_but_never_taken_shows_as_over(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Card slips for 5.00 in a shift that took no card: the Z report shows card over by 5.00."""
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    ok(close(till, FLOAT_100, {"card": 500, "gift_card": 0}))
    z = ok(report(store, till.staff_token or "", till.shift, "z"))
    assert z["tenders"] == [
        {"kind": "cash", "expected": 10000, "counted": 10000, "difference": 0},
        {"kind": "card", "expected": 0, "counted": 500, "difference": 500},
    ]


def test_a_tender_not_entered_at_close_is_not_counted_as_zero(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Card sales, and no batch total entered at close: the Z report says "not counted",
    not "short by everything"."""
    mug = uid(store.rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    sell(till, [Item(mug, 1, 950)], [{"kind": "card", "amount": 950, "reference": "T-1"}])
    ok(close(till, FLOAT_100))
    z = ok(report(store, till.staff_token or "", till.shift, "z"))
    assert z["tenders"] == [
        {"kind": "cash", "expected": 10000, "counted": 10000, "difference": 0},
        {"kind": "card", "expected": 950, "counted": None, "difference": None},
    ]


def test_a_count_in_notes_the_currency_does_not_have_is_refused(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = till_for(store, wall)
    bad = till.send(
        "shift.opened",
        {
            "shift": "01a21580-0000-7000-8000-000000000001",
            "float": {"counts": {"300": 2, "100": 4}, "total": 1000},
        },
    )
    assert refused(bad, 422, "unknown_denomination")["details"]["denominations"] == ["300"]
    assert store.rt.db.scalar("SELECT count(*) FROM shift") == 0
    ok(till.open_shift(FLOAT_100))
    bad_close = close(till, {**FLOAT_100, "7": 1})
    assert refused(bad_close, 422, "unknown_denomination")["details"]["denominations"] == ["7"]


def test_the_blind_count_at_close_must_add_up(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    bad = till.send(
        "shift.closed", {"shift": till.shift, "cash": {"counts": FLOAT_100, "total": 9999}}
    )
    assert refused(bad, 422, "count_mismatch")["details"]["counted"] == 10000
    assert store.rt.db.scalar("SELECT closed_event FROM shift WHERE id = ?", (till.shift,)) is None
    assert store.rt.db.scalar("SELECT count(*) FROM z_report") == 0


def test_over_or_short_at_close_is_flagged(store: Store, catalog: Runtime, wall: FakeWall) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    sell(till, [Item(mug, 1, 950)], [{"kind": "cash", "amount": 950, "tendered": 1000}])
    # Expected 109.50; counted 114.50: over by 5.00.
    over = ok(close(till, {**FLOAT_100, "500": 6, "100": 14, "50": 1}))
    [flag] = over["flagged"]
    assert flag["id"] == over["flagged"][0]["id"]
    assert [f["code"] for f in flag["flags"]] == ["cash_over_short"]
    assert "over by 500" in flag["flags"][0]["message"]
    assert ok(report(store, till.staff_token or "", till.shift, "z"))["cash"]["over_short"] == 500
    manager = store.login("manager")
    flags = ok(store.client.get("/api/v1/review", headers=store.bearer(manager)))["flags"]
    # (The mug was never booked in, so the sale itself is flagged for negative stock.)
    assert sorted(f["code"] for f in flags) == ["cash_over_short", "negative_stock"]

    # An exact drawer is not flagged.
    ok(till.open_shift(FLOAT_100))
    assert ok(close(till, FLOAT_100))["flagged"] == []
    assert rt.db.scalar("SELECT count(*) FROM review_flag WHERE code = 'cash_over_short'") == 1


# ---- Z reports --------------------------------------------------------------------------


def test_z_reports_are_numbered_across_registers_in_close_order(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    first = till_for(store, wall)
    second = till_for(store, wall, "cashier2", register=store.new_register("Second"))
    third = till_for(store, wall, "supervisor", register=store.new_register("Third"))
    for till in (first, second, third):
        ok(till.open_shift(FLOAT_100))
    order = [second, third, first]
    for till in order:
        wall.advance(30)
        ok(close(till, FLOAT_100))
    supervisor = store.login("supervisor")
    numbers = [ok(report(store, supervisor, till.shift, "z"))["number"] for till in order]
    assert numbers == [1, 2, 3]
    assert [
        (row["register"], row["number"])
        for row in store.rt.db.query("SELECT register, number FROM z_report ORDER BY closed_at")
    ] == [(till.origin, n) for till, n in zip(order, (1, 2, 3), strict=True)]
    # The next shift on the first register closes as Z 4.
    ok(first.open_shift(FLOAT_100))
    ok(close(first, FLOAT_100))
    assert ok(report(store, supervisor, first.shift, "z"))["number"] == 4


def test_a_z_report_cannot_be_updated_or_deleted(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    ok(close(till, FLOAT_100))
    before = rt.db.one("SELECT * FROM z_report WHERE shift = ?", (till.shift,))
    assert before is not None
    with pytest.raises(IntegrityError, match="append-only"), rt.db.write():
        rt.db.execute("UPDATE z_report SET body = '{}' WHERE shift = ?", (till.shift,))
    with pytest.raises(IntegrityError, match="append-only"), rt.db.write():
        rt.db.execute("UPDATE z_report SET number = 99 WHERE shift = ?", (till.shift,))
    with pytest.raises(IntegrityError, match="append-only"), rt.db.write():
        rt.db.execute("DELETE FROM z_report WHERE shift = ?", (till.shift,))
    after = rt.db.one("SELECT * FROM z_report WHERE shift = ?", (till.shift,))
    assert after is not None and dict(after) == dict(before)


def test_a_closed_shift_takes_no_more_sales_or_cash_moves(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    till = till_for(store, wall, "supervisor")
    ok(till.open_shift(FLOAT_100))
    sale = sell(till, [Item(mug, 1, 950)], [{"kind": "cash", "amount": 950}])
    ok(close(till, {**FLOAT_100, "500": 5, "200": 2, "50": 1}))
    events = rt.db.scalar("SELECT count(*) FROM event")

    refused(till.send("sale.completed", till.sale_body([Item(mug, 1, 950)])), 422, "shift_closed")
    refused(cash_move(till, "pay_in", 1000, "change_run"), 422, "shift_closed")
    refused(cash_move(till, "no_sale", 0, "customer_change"), 422, "shift_closed")
    refused(
        return_whole_line(till, sale, 1, [{"kind": "cash", "amount": 950}]), 422, "shift_closed"
    )
    refused(close(till, FLOAT_100), 422, "shift_closed")
    assert rt.db.scalar("SELECT count(*) FROM event") == events
    assert rt.db.scalar("SELECT count(*) FROM z_report") == 1


def test_x_report_is_for_supervisors_mid_shift(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    sell(till, [Item(mug, 2, 950)], [{"kind": "cash", "amount": 1900, "tendered": 2000}])

    # The cashier counts blind: no X report for them, and no Z before the close.
    refused(report(store, till.staff_token or "", till.shift, "x"), 403, "role_required")
    refused(report(store, till.staff_token or "", till.shift, "z"), 422, "shift_open")

    x = ok(report(store, store.login("supervisor"), till.shift, "x"))
    assert (x["kind"], x["number"], x["closed_at"]) == ("x", None, None)
    assert x["sales"]["total"] == 1900
    assert x["tenders"] == [{"kind": "cash", "expected": 11900}]
    assert x["cash"]["expected"] == 11900
    assert (x["cash"]["counted"], x["cash"]["over_short"]) == (None, None)
    # An X report changes nothing: no Z number is taken.
    assert rt.db.scalar("SELECT count(*) FROM z_report") == 0
    assert ok(report(store, store.login("manager"), till.shift, "x"))["net_sales"] == 1900
    refused(report(store, till.staff_token or "", new_id(), "x"), 404, "not_found")


def test_z_report_is_for_its_cashier_and_supervisors(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT_100))
    # While open: its cashier learns there is no Z yet; another cashier learns nothing.
    refused(report(store, till.staff_token or "", till.shift, "z"), 422, "shift_open")
    refused(report(store, store.login("cashier2"), till.shift, "z"), 403, "role_required")
    ok(close(till, FLOAT_100))
    mine = ok(report(store, till.staff_token or "", till.shift, "z"))
    assert mine["number"] == 1
    for who in ("supervisor", "manager"):
        assert ok(report(store, store.login(who), till.shift, "z")) == mine
    refused(report(store, store.login("cashier2"), till.shift, "z"), 403, "role_required")
    # A device token alone is not a staff member.
    refused(report(store, store.device, till.shift, "z"), 401, "login_required")


def test_z_report_taxes_by_rate_net_out_returns_and_voids(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    from appliance.catalog.csvio import import_csv

    rt = store.rt
    imported = import_csv(
        rt,
        (
            b"sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
            b"reorder_qty,pack_size,active\r\n"
            b"BOOK-1,Field Guide,,,Books,Acme,5.00,21.40,reduced,,,1,1\r\n"
        ),
    )
    assert imported.applied, imported
    tee, book = uid(rt, "TEE-M-RED"), uid(rt, "BOOK-1")
    till = till_for(store, wall, "supervisor")
    ok(till.open_shift(FLOAT_100))
    # 12.99 at 20 % (tax 2.17) and 2 × 21.40 = 42.80 at 7 % (42.80 × 7 / 107 = 2.8000 → 2.80).
    both = sell(
        till,
        [Item(tee, 1, 1299), Item(book, 2, 2140, tax_class="reduced")],
        [{"kind": "card", "amount": 5579, "reference": "T-1"}],
    )
    # One book (21.40 × 7 / 107 = 1.40): sold, then post-voided: in neither sales nor tax.
    voided = sell(
        till,
        [Item(book, 1, 2140, tax_class="reduced")],
        [{"kind": "card", "amount": 2140, "reference": "T-2"}],
    )
    held = till.receipt(voided["receipt"])
    ok(
        till.send(
            "sale.voided",
            {"sale": held["id"], "receipt": voided["receipt"], "reason": "Wrong customer"},
        )
    )
    # The two books of the first sale come back (damaged: the money comes back all the same).
    ok(
        return_whole_line(
            till, both, 2, [{"kind": "card", "amount": 4280, "reference": "T-1"}], "defective"
        )
    )
    ok(close(till, FLOAT_100, {"card": 1299}))

    z = ok(report(store, till.staff_token or "", till.shift, "z"))
    assert z["taxes"] == [
        {"rate_ppm": 70_000, "sales": 0, "tax": 0},
        {"rate_ppm": 200_000, "sales": 1299, "tax": 217},
    ]
    assert z["sales"] == {
        "count": 2,
        "gross": 7719,
        "discounts": 0,
        "tax": 217 + 280 + 140,
        "total": 7719,
    }
    assert z["voids"] == {"count": 1, "total": 2140, "tax": 140}
    assert z["returns"] == {"count": 1, "total": 4280, "tax": 280}
    assert (z["net_sales"], z["net_tax"]) == (1299, 217)
    assert sum(t["sales"] for t in z["taxes"]) == z["net_sales"]
    assert sum(t["tax"] for t in z["taxes"]) == z["net_tax"]
    assert z["tenders"] == [
        {"kind": "cash", "expected": 10000, "counted": 10000, "difference": 0},
        {"kind": "card", "expected": 1299, "counted": 1299, "difference": 0},
    ]


# ---- the day ----------------------------------------------------------------------------


def test_the_day_summary_adds_up_across_two_registers(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    day = format_at(wall.ms)[:10]
    front = till_for(store, wall)
    back = till_for(store, wall, "cashier2", register=store.new_register("Back"))
    ok(front.open_shift(FLOAT_100))
    ok(back.open_shift({"5000": 1}))

    sale = sell(front, [Item(tee, 1, 1299)], [{"kind": "cash", "amount": 1299, "tendered": 1500}])
    sell(front, [Item(mug, 1, 950)], [{"kind": "card", "amount": 950, "reference": "T-9"}])
    ok(return_whole_line(front, sale, 1, [{"kind": "cash", "amount": 1299}]))
    sell(back, [Item(mug, 2, 950)], [{"kind": "cash", "amount": 1900}])
    # Front closes 0.50 short; back stays open.
    ok(close(front, {**FLOAT_100, "100": 9, "50": 1}, {"card": 950}))

    cashier = store.login("cashier")
    refused(
        store.client.get(f"/api/v1/reports/day?date={day}", headers=store.bearer(cashier)),
        403,
        "role_required",
    )
    summary = ok(
        store.client.get(
            f"/api/v1/reports/day?date={day}", headers=store.bearer(store.login("supervisor"))
        )
    )
    assert summary["date"] == day
    assert summary["open_shifts"] == 1
    by_register = {s["register"]: s for s in summary["shifts"]}
    assert by_register[front.origin] == {
        "shift": front.shift,
        "register": front.origin,
        "closed": True,
        "z_number": 1,
        "net_sales": 950,
        "over_short": -50,
    }
    assert by_register[back.origin] == {
        "shift": back.shift,
        "register": back.origin,
        "closed": False,
        "z_number": None,
        "net_sales": 1900,
        "over_short": None,
    }
    assert summary["totals"] == {
        "sales": 1299 + 950 + 1900,
        "returns": 1299,
        "voids": 0,
        "net_sales": 950 + 1900,
        # 2.17 + 1.58 − 2.17 + 3.17
        "net_tax": 158 + 317,
    }
    assert summary["tenders"] == [
        {"kind": "card", "expected": 950},
        # front: 100.00 + 12.99 − 12.99; back: 50.00 + 19.00
        {"kind": "cash", "expected": 10000 + 6900},
    ]
    assert summary["over_short"] == -50
    # Another day has nothing.
    other = ok(
        store.client.get(
            "/api/v1/reports/day?date=2001-01-01", headers=store.bearer(store.login("manager"))
        )
    )
    assert (other["shifts"], other["open_shifts"], other["over_short"]) == ([], 0, 0)


def test_the_day_is_the_stores_local_day_not_the_utc_date(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    import dataclasses

    from appliance import shifts
    from appliance.errors import Invalid

    # 2026-11-18 10:50 UTC is 23:50 in Auckland (UTC+13); the second shift opens 20 minutes
    # later, at 00:10 on the 19th there and still on the 18th in UTC.
    wall.ms = 1_795_000_000_000 - 16 * 60_000
    front = till_for(store, wall)
    ok(front.open_shift(FLOAT_100))
    wall.advance(20 * 60)
    back = till_for(store, wall, "cashier2", register=store.new_register("Back"))
    ok(back.open_shift(FLOAT_100))
    auckland = dataclasses.replace(
        catalog, settings=catalog.settings.replace(timezone="Pacific/Auckland")
    )

    def opened(rt: Runtime, date: str) -> list[str]:
        return [s["register"] for s in shifts.day_summary(rt, date)["shifts"]]

    assert opened(auckland, "2026-11-18") == [front.origin]
    assert opened(auckland, "2026-11-19") == [back.origin]
    # Dublin is on UTC in November: both shifts are on the 18th there.
    assert opened(catalog, "2026-11-18") == [front.origin, back.origin]
    assert opened(catalog, "2026-11-19") == []
    # The API asks the domain with the store's own time zone.
    summary = ok(
        store.client.get(
            "/api/v1/reports/day?date=2026-11-18", headers=store.bearer(store.login("supervisor"))
        )
    )
    assert [s["register"] for s in summary["shifts"]] == [front.origin, back.origin]
    assert shifts.local_day("Pacific/Auckland", "2026-11-19") == (
        "2026-11-18T11:00:00.000Z",
        "2026-11-19T11:00:00.000Z",
    )
    # The day the clocks go back in Dublin has 25 hours.
    assert shifts.local_day("Europe/Dublin", "2026-10-25") == (
        "2026-10-24T23:00:00.000Z",
        "2026-10-26T00:00:00.000Z",
    )
    assert shifts.local_date("Pacific/Auckland", wall.ms) == "2026-11-19"
    for bad in ("2026-02-30", "0001-01-01"):
        with pytest.raises(Invalid):
            shifts.day_summary(catalog, bad)
    refused(
        store.client.get(
            "/api/v1/reports/day?date=2026-13-01", headers=store.bearer(store.login("supervisor"))
        ),
        422,
        "invalid_date",
    )
