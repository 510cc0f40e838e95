"""Returns and exchanges (appliance/returns.py): refunds by the shared rule, caps, tenders,
reason dispositions, returns without a receipt, exchanges, and two registers racing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from appliance.app import create_app
from appliance.runtime import Runtime, open_runtime
from appliance.server import RunningServer
from protocol.envelope import Envelope, Override, format_at, seal
from protocol.ids import new_id
from tests.appliance.selling.helpers import ok, on_hand, refused, uid
from tests.appliance.till import Item, Till
from tests.conftest import PINS, FakeWall, Store, make_settings

# ---- helpers shared by the tests below ----------------------------------------------------

TABLES = ("event", "sale", "payment", "stock_ledger", "review_flag", "return_doc", "return_line")


def counts(rt: Runtime) -> dict[str, int]:
    return {table: int(rt.db.scalar(f"SELECT count(*) FROM {table}")) for table in TABLES}


def open_till(store: Store, register: str, device: str, wall: FakeWall, who: str) -> Till:
    till = Till(store.client, "s01", register, device, wall, actor=store.staff[who])
    till.staff_token = store.login(who, device=device)
    ok(till.open_shift())
    return till


def approve(store: Store, till: Till, action: str, amount: int | None) -> str:
    body: dict[str, Any] = {
        "action": action,
        "reason": "manager ok",
        "approver_pin": PINS["supervisor"],
    }
    if amount is not None:
        body["amount"] = amount
    response = store.client.post(
        "/api/v1/overrides", json=body, headers=store.bearer(till.staff_token or "")
    )
    assert response.status_code == 201, response.get_json()
    approval: str = response.get_json()["id"]
    return approval


def sell(
    till: Till, items: list[Item], tenders: list[dict[str, Any]] | None = None, **kwargs: Any
) -> tuple[str, dict[str, Any]]:
    """A live sale; its id and body."""
    body = till.sale_body(items, tenders=tenders, **kwargs)
    sent = till.send("sale.completed", body)
    ok(sent)
    return sent.envelope.id, body


def return_line(
    line: int,
    variant: str,
    qty: int,
    refund: int,
    tax: int,
    *,
    original_line: int | None = None,
    reason: str = "changed_mind",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "line": line,
        "variant": variant,
        "qty": qty,
        "refund": refund,
        "tax": tax,
        "reason": reason,
    }
    if original_line is not None:
        data["original_line"] = original_line
    return data


def return_body(
    till: Till,
    original: str | None,
    lines: list[dict[str, Any]],
    tenders: list[dict[str, Any]] | None = None,
    *,
    exchange: str | None = None,
) -> dict[str, Any]:
    total = sum(line["refund"] for line in lines)
    body: dict[str, Any] = {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "lines": lines,
        "tenders": tenders
        if tenders is not None
        else [{"kind": "card", "amount": total, "reference": "RF-1"}],
        "totals": {"total": total, "tax": sum(line["tax"] for line in lines)},
    }
    if original is not None:
        body["original"] = original
    if exchange is not None:
        body["exchange"] = exchange
    return body


def seal_as(till: Till, event_id: str, type: str, body: dict[str, Any]) -> Envelope:
    """Till.event with a chosen id: the two halves of an exchange name each other."""
    till.seq += 1
    env = seal(
        id=event_id,
        type=type,
        store=till.store,
        origin=till.origin,
        seq=till.seq,
        hlc=str(till.clock.now()),
        at=format_at(till.wall()),
        actor=till.actor,
        override=None,
        body=body,
        prev=till.prev,
    )
    till.prev = env.hash
    return env


@pytest.fixture
def till(store: Store, catalog: Runtime, wall: FakeWall) -> Till:
    """The fixture register with a cashier and an open shift, and ten of each item on hand."""
    till = open_till(store, store.register_id, store.device, wall, "cashier")
    lines = [{"variant": uid(catalog, s), "qty": 10} for s in ("TEE-M-RED", "TEE-L-RED", "MUG-1")]
    ok(till.send("stock.received", {"lines": lines}))
    return till


# ---- with a receipt ------------------------------------------------------------------------


def test_partial_returns_telescope_to_the_line_total(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    # 3 × 12.99 − 1.00 = 37.97, tax included 37.97 / 6 = 6.328 → 6.33.
    _, sale = sell(till, [Item(tee, 3, 1299, discount=("amount", 100))])
    assert sale["totals"] == {"subtotal": 3897, "discount": 100, "tax": 633, "total": 3797}
    number = sale["receipt"]
    # Each third of 37.97 by the telescoping rule: 12.66, then 25.31 − 12.66, then the rest.
    for refund, tax in ((1266, 211), (1265, 211), (1266, 211)):
        body = return_body(till, number, [return_line(1, tee, 1, refund, tax, original_line=1)])
        ok(till.send("return.completed", body))
    receipt = till.receipt(number)
    [line] = receipt["lines"]
    assert (line["returned"], line["returnable"], line["refunded"]) == (3, 0, 3797)
    assert receipt["tenders"] == [
        {"kind": "card", "paid": 3797, "refunded": 3797, "reference": "T-1"}
    ]
    assert on_hand(store, "TEE-M-RED") == 10
    assert rt.db.scalar("SELECT SUM(amount) FROM payment WHERE shift = ?", (till.shift,)) == 0

    # Nothing is left to return.
    data = refused(
        till.send(
            "return.completed",
            return_body(till, number, [return_line(1, tee, 1, 1, 0, original_line=1)]),
        ),
        "over_return",
    )
    assert (data["details"]["sold"], data["details"]["returned"], data["details"]["line"]) == (
        3,
        3,
        1,
    )


def test_a_refund_other_than_the_shared_rule_is_refused(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 3, 1299, discount=("amount", 100))])
    body = return_body(till, sale["receipt"], [return_line(1, tee, 1, 1300, 211, original_line=1)])
    data = refused(till.send("return.completed", body), "refund_mismatch")
    assert (data["details"]["refund"], data["details"]["tax"]) == (1266, 211)


def test_returning_more_than_was_sold_is_refused(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 2, 1299)])
    before = counts(rt)
    data = refused(
        till.send(
            "return.completed",
            return_body(
                till, sale["receipt"], [return_line(1, tee, 3, 3897, 650, original_line=1)]
            ),
        ),
        "over_return",
    )
    assert (data["details"]["sold"], data["details"]["returned"]) == (2, 0)
    # Two lines of one return that together exceed the line.
    data = refused(
        till.send(
            "return.completed",
            return_body(
                till,
                sale["receipt"],
                [
                    return_line(1, tee, 1, 1299, 217, original_line=1),
                    return_line(2, tee, 2, 2598, 433, original_line=1),
                ],
            ),
        ),
        "over_return",
    )
    assert (data["details"]["sold"], data["details"]["returned"], data["details"]["line"]) == (
        2,
        1,
        2,
    )
    assert counts(rt) == before


def test_a_voided_line_cannot_be_returned(store: Store, till: Till) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    _, sale = sell(till, [Item(tee, 1, 1299), Item(mug, 1, 950, voided=True)])
    body = return_body(till, sale["receipt"], [return_line(1, mug, 1, 950, 158, original_line=2)])
    refused(till.send("return.completed", body), "unknown_line")
    body = return_body(till, sale["receipt"], [return_line(1, mug, 1, 950, 158, original_line=9)])
    refused(till.send("return.completed", body), "unknown_line")


def test_a_voided_sale_cannot_be_returned(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    sale_id, sale = sell(till, [Item(tee, 1, 1299)])
    approval = approve(store, till, "post_void", 1299)
    ok(
        till.send(
            "sale.voided",
            {"sale": sale_id, "receipt": sale["receipt"], "reason": "wrong customer"},
            override=Override(
                id=approval, action="post_void", approver=store.staff["supervisor"], offline=False
            ),
        )
    )
    body = return_body(till, sale["receipt"], [return_line(1, tee, 1, 1299, 217, original_line=1)])
    refused(till.send("return.completed", body), "voided_sale")


def test_a_return_against_an_unknown_receipt_is_refused(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    body = return_body(
        till, f"{store.register_id}-000999", [return_line(1, tee, 1, 1299, 217, original_line=1)]
    )
    refused(till.send("return.completed", body), "unknown_receipt")


def test_a_return_of_another_item_than_the_line_is_refused(store: Store, till: Till) -> None:
    rt = store.rt
    _, sale = sell(till, [Item(uid(rt, "TEE-M-RED"), 1, 1299)])
    body = return_body(
        till, sale["receipt"], [return_line(1, uid(rt, "TEE-L-RED"), 1, 1299, 217, original_line=1)]
    )
    refused(till.send("return.completed", body), "wrong_variant")


def test_the_refund_goes_back_to_the_tenders_that_paid(store: Store, till: Till) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    _, sale = sell(
        till,
        [Item(tee, 1, 1299), Item(mug, 1, 950)],
        [
            {"kind": "cash", "amount": 1000, "tendered": 1000},
            {"kind": "card", "amount": 1249, "reference": "AUTH-9"},
        ],
    )
    number = sale["receipt"]
    tee_back = [return_line(1, tee, 1, 1299, 217, original_line=1)]
    before = counts(rt)
    # More cash back than was paid in cash.
    data = refused(
        till.send(
            "return.completed",
            return_body(till, number, tee_back, [{"kind": "cash", "amount": 1299}]),
        ),
        "refund_tender",
    )
    assert (data["details"]["kind"], data["details"]["available"]) == ("cash", 1000)
    # A tender that never paid for it.
    refused(
        till.send(
            "return.completed",
            return_body(
                till, number, tee_back, [{"kind": "gift_card", "amount": 1299, "reference": "GC-1"}]
            ),
        ),
        "refund_tender",
    )
    assert counts(rt) == before
    # Cash up to what was paid in cash, the rest to the card.
    ok(
        till.send(
            "return.completed",
            return_body(
                till,
                number,
                tee_back,
                [
                    {"kind": "cash", "amount": 1000},
                    {"kind": "card", "amount": 299, "reference": "RF-1"},
                ],
            ),
        )
    )
    mug_back = [return_line(1, mug, 1, 950, 158, original_line=2)]
    # The card has 9.50 left; the cash none.
    data = refused(
        till.send(
            "return.completed",
            return_body(till, number, mug_back, [{"kind": "cash", "amount": 950}]),
        ),
        "refund_tender",
    )
    assert data["details"]["available"] == 0
    ok(till.send("return.completed", return_body(till, number, mug_back)))
    tenders = {t["kind"]: (t["paid"], t["refunded"]) for t in till.receipt(number)["tenders"]}
    assert tenders == {"cash": (1000, 1000), "card": (1249, 1249)}


def test_a_card_sale_is_not_refunded_in_cash(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 1, 1299)])
    body = return_body(
        till,
        sale["receipt"],
        [return_line(1, tee, 1, 1299, 217, original_line=1)],
        [{"kind": "cash", "amount": 1299}],
    )
    data = refused(till.send("return.completed", body), "refund_tender")
    assert data["details"] == {"event": data["details"]["event"], "kind": "cash", "available": 0}


def test_store_credit_is_always_allowed(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 1, 1299)], [{"kind": "cash", "amount": 1299}])
    body = return_body(
        till,
        sale["receipt"],
        [return_line(1, tee, 1, 1299, 217, original_line=1)],
        [{"kind": "store_credit", "amount": 1299, "reference": "SC-0042"}],
    )
    sent = till.send("return.completed", body)
    ok(sent)
    row = rt.db.one(
        "SELECT kind, amount, reference FROM payment WHERE event = ?", (sent.envelope.id,)
    )
    assert row is not None and tuple(row) == ("store_credit", -1299, "SC-0042")


def test_refund_totals_must_add_up(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 1, 1299)])
    body = return_body(till, sale["receipt"], [return_line(1, tee, 1, 1299, 217, original_line=1)])
    body["totals"]["total"] = 1300
    body["tenders"][0]["amount"] = 1300
    refused(till.send("return.completed", body), "totals_mismatch")
    body = return_body(till, sale["receipt"], [return_line(1, tee, 1, 1299, 217, original_line=1)])
    body["tenders"][0]["amount"] = 1200
    refused(till.send("return.completed", body), "tenders_mismatch")


# ---- reasons and what happens to the goods -------------------------------------------------


def test_only_restock_reasons_put_goods_back_on_hand(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 3, 1299)])
    assert on_hand(store, "TEE-M-RED") == 7
    number = sale["receipt"]
    # 3 × 12.99 carries 6.50 tax: 2.17, then 4.33 − 2.17, then the rest.
    expected = [
        ("changed_mind", "restock", 217, 8),
        ("defective", "damaged", 216, 8),
        ("recall", "rtv", 217, 8),
    ]
    for reason, disposition, tax, left in expected:
        body = return_body(
            till, number, [return_line(1, tee, 1, 1299, tax, original_line=1, reason=reason)]
        )
        sent = till.send("return.completed", body)
        ok(sent)
        assert (
            rt.db.scalar(
                "SELECT disposition FROM return_line WHERE return_id = ?", (sent.envelope.id,)
            )
            == disposition
        )
        assert on_hand(store, "TEE-M-RED") == left, reason
    moves = rt.db.query(
        "SELECT kind, qty, reason FROM stock_ledger WHERE variant = ? AND kind = 'return'", (tee,)
    )
    assert [tuple(m) for m in moves] == [("return", 1, "changed_mind")]
    reasons = store.client.get("/api/v1/reasons", headers=store.bearer(store.device)).get_json()
    dispositions = {
        r["code"]: r["disposition"] for r in reasons["reasons"] if r["kind"] == "return"
    }
    assert {dispositions[r] for r, _, _, _ in expected} == {"restock", "damaged", "rtv"}


def test_an_unknown_reason_is_refused(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 1, 1299)])
    body = return_body(
        till, sale["receipt"], [return_line(1, tee, 1, 1299, 217, original_line=1, reason="theft")]
    )
    refused(till.send("return.completed", body), "unknown_reason")


# ---- without a receipt ---------------------------------------------------------------------


def no_receipt(
    till: Till, variant: str, tender: dict[str, Any], refund: int = 950, tax: int = 158
) -> dict[str, Any]:
    return return_body(till, None, [return_line(1, variant, 1, refund, tax)], [tender])


def rwr(store: Store, approval: str) -> Override:
    return Override(
        id=approval,
        action="return_without_receipt",
        approver=store.staff["supervisor"],
        offline=False,
    )


def test_a_return_without_a_receipt_needs_an_approval_for_the_refund(
    store: Store, till: Till
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    cash = {"kind": "cash", "amount": 950}
    wrong = approve(store, till, "return_without_receipt", 900)
    before = counts(rt)
    data = refused(till.send("return.completed", no_receipt(till, mug, cash)), "override_required")
    assert data["details"]["action"] == "return_without_receipt"
    refused(
        till.send("return.completed", no_receipt(till, mug, cash), override=rwr(store, wrong)),
        "approval_invalid",
    )
    assert counts(rt) == before
    approval = approve(store, till, "return_without_receipt", 950)
    sent = till.send("return.completed", no_receipt(till, mug, cash), override=rwr(store, approval))
    ok(sent)
    assert on_hand(store, "MUG-1") == 11
    row = rt.db.one(
        "SELECT original_sale, total, tax FROM return_doc WHERE id = ?", (sent.envelope.id,)
    )
    assert row is not None and tuple(row) == (None, 950, 158)
    # The approval was for that return only.
    refused(
        till.send("return.completed", no_receipt(till, mug, cash), override=rwr(store, approval)),
        "approval_invalid",
    )


def test_a_return_without_a_receipt_is_refunded_only_as_policy_allows(
    store: Store, till: Till
) -> None:
    mug = uid(store.rt, "MUG-1")
    approval = approve(store, till, "return_without_receipt", 950)
    card = {"kind": "card", "amount": 950, "reference": "RF-1"}
    refused(
        till.send("return.completed", no_receipt(till, mug, card), override=rwr(store, approval)),
        "refund_tender",
    )
    credit = {"kind": "store_credit", "amount": 950, "reference": "SC-7"}
    ok(till.send("return.completed", no_receipt(till, mug, credit), override=rwr(store, approval)))


def test_a_store_can_allow_only_store_credit_without_a_receipt(
    store: Store, till: Till, wall: FakeWall, settings: Any
) -> None:
    strict = open_runtime(
        make_settings(settings.data_dir, no_receipt_refunds=["store_credit"]), wall=wall
    )
    try:
        till.client = create_app(strict.settings, runtime=strict).test_client()
        mug = uid(store.rt, "MUG-1")
        approval = approve(store, till, "return_without_receipt", 950)
        data = refused(
            till.send(
                "return.completed",
                no_receipt(till, mug, {"kind": "cash", "amount": 950}),
                override=rwr(store, approval),
            ),
            "refund_tender",
        )
        assert "store_credit" in data["message"]
    finally:
        strict.close()


def test_a_return_without_a_receipt_refunds_at_most_todays_price(store: Store, till: Till) -> None:
    mug = uid(store.rt, "MUG-1")
    approval = approve(store, till, "return_without_receipt", 1000)
    body = no_receipt(till, mug, {"kind": "cash", "amount": 1000}, refund=1000, tax=167)
    refused(till.send("return.completed", body, override=rwr(store, approval)), "refund_too_large")
    approval = approve(store, till, "return_without_receipt", 950)
    body = no_receipt(till, mug, {"kind": "cash", "amount": 950}, refund=950, tax=150)
    refused(till.send("return.completed", body, override=rwr(store, approval)), "refund_mismatch")


# ---- exchanges -----------------------------------------------------------------------------


def test_an_exchange_settles_the_difference_in_one_push(store: Store, till: Till) -> None:
    rt = store.rt
    tee_m, tee_l, mug = uid(rt, "TEE-M-RED"), uid(rt, "TEE-L-RED"), uid(rt, "MUG-1")
    _, sale = sell(till, [Item(tee_m, 1, 1299)])
    return_id, new_sale_id = new_id(), new_id()
    back = seal_as(
        till,
        return_id,
        "return.completed",
        return_body(
            till,
            sale["receipt"],
            [return_line(1, tee_m, 1, 1299, 217, original_line=1, reason="wrong_size")],
            [{"kind": "exchange", "amount": 1299}],
            exchange=new_sale_id,
        ),
    )
    # The larger size and a mug: 22.49, of which 12.99 is the returned tee; 9.50 by card.
    out = seal_as(
        till,
        new_sale_id,
        "sale.completed",
        till.sale_body(
            [Item(tee_l, 1, 1299), Item(mug, 1, 950)],
            tenders=[
                {"kind": "exchange", "amount": 1299},
                {"kind": "card", "amount": 950, "reference": "AUTH-EX"},
            ],
            exchange_of=return_id,
        ),
    )
    data = ok(till.push(back, out))
    assert (data["applied"], data["flagged"]) == (2, [])
    payments = [
        tuple(r)
        for r in rt.db.query(
            "SELECT event, kind, amount FROM payment WHERE event IN (?, ?) ORDER BY event, idx",
            (return_id, new_sale_id),
        )
    ]
    assert sorted(payments) == sorted(
        [
            (return_id, "exchange", -1299),
            (new_sale_id, "exchange", 1299),
            (new_sale_id, "card", 950),
        ]
    )
    assert rt.db.scalar("SELECT exchange FROM return_doc WHERE id = ?", (return_id,)) == new_sale_id
    assert rt.db.scalar("SELECT exchange_of FROM sale WHERE id = ?", (new_sale_id,)) == return_id
    assert (on_hand(store, "TEE-M-RED"), on_hand(store, "TEE-L-RED"), on_hand(store, "MUG-1")) == (
        10,
        9,
        9,
    )
    # Net for the shift: the first sale's card, the exchange's card; exchange tenders cancel out.
    net = {
        r["kind"]: r["amount"]
        for r in rt.db.query(
            "SELECT kind, SUM(amount) AS amount FROM payment WHERE shift = ? GROUP BY kind",
            (till.shift,),
        )
    }
    assert net == {"card": 1299 + 950, "exchange": 0}


def test_an_exchange_for_less_refunds_the_difference(store: Store, till: Till) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    _, sale = sell(till, [Item(tee, 1, 1299)])
    return_id, new_sale_id = new_id(), new_id()
    back = seal_as(
        till,
        return_id,
        "return.completed",
        return_body(
            till,
            sale["receipt"],
            [return_line(1, tee, 1, 1299, 217, original_line=1)],
            [
                {"kind": "exchange", "amount": 950},
                {"kind": "card", "amount": 349, "reference": "RF"},
            ],
            exchange=new_sale_id,
        ),
    )
    out = seal_as(
        till,
        new_sale_id,
        "sale.completed",
        till.sale_body(
            [Item(mug, 1, 950)],
            tenders=[{"kind": "exchange", "amount": 950}],
            exchange_of=return_id,
        ),
    )
    ok(till.push(back, out))
    assert till.receipt(sale["receipt"])["tenders"][0]["refunded"] == 349


def _exchange_pair(
    store: Store, till: Till, *, sale_credit: int, sale_points_to: str | None = None
) -> tuple[Envelope, Envelope]:
    rt = store.rt
    tee_m, tee_l, mug = uid(rt, "TEE-M-RED"), uid(rt, "TEE-L-RED"), uid(rt, "MUG-1")
    _, sale = sell(till, [Item(tee_m, 1, 1299)])
    return_id, new_sale_id = new_id(), new_id()
    back = seal_as(
        till,
        return_id,
        "return.completed",
        return_body(
            till,
            sale["receipt"],
            [return_line(1, tee_m, 1, 1299, 217, original_line=1)],
            [{"kind": "exchange", "amount": 1299}],
            exchange=new_sale_id,
        ),
    )
    out = seal_as(
        till,
        new_id() if sale_points_to == "elsewhere" else new_sale_id,
        "sale.completed",
        till.sale_body(
            [Item(tee_l, 1, 1299), Item(mug, 1, 950)],
            tenders=[
                {"kind": "exchange", "amount": sale_credit},
                {"kind": "card", "amount": 2249 - sale_credit, "reference": "AUTH-EX"},
            ],
            exchange_of=return_id,
        ),
    )
    return back, out


@pytest.mark.parametrize(
    ("credit", "points_to"),
    [(1000, None), (1299, "elsewhere")],
    ids=["credit-differs", "another-sale"],
)
def test_an_exchange_whose_halves_do_not_match_is_refused(
    store: Store, till: Till, credit: int, points_to: str | None
) -> None:
    back, out = _exchange_pair(store, till, sale_credit=credit, sale_points_to=points_to)
    before = counts(store.rt)
    seq, prev = back.seq - 1, back.prev
    refused(till.push(back, out), "exchange_mismatch")
    assert counts(store.rt) == before
    till.seq, till.prev = seq, prev


def test_an_exchange_without_its_sale_in_the_push_is_refused(store: Store, till: Till) -> None:
    back, out = _exchange_pair(store, till, sale_credit=1299)
    before = counts(store.rt)
    data = refused(till.push(back), "exchange_incomplete")
    assert data["details"]["event"] == back.id
    assert counts(store.rt) == before
    # A sale of an exchange with no return before it.
    till.seq, till.prev = back.seq - 1, back.prev
    lone = till.event("sale.completed", dict(out.body))
    refused(till.push(lone), "exchange_incomplete")


def test_a_replayed_exchange_without_its_sale_is_kept_and_flagged(store: Store, till: Till) -> None:
    back, _ = _exchange_pair(store, till, sale_credit=1299)
    data = ok(till.push(back, mode="replay", token=store.device))
    flagged = {e["id"]: [f["code"] for f in e["flags"]] for e in data["flagged"]}
    assert flagged == {back.id: ["exchange_incomplete"]}
    codes = [
        r[0] for r in store.rt.db.query("SELECT code FROM review_flag WHERE event = ?", (back.id,))
    ]
    assert codes == ["exchange_incomplete"]


# ---- the race: two registers return the same receipt line at once -------------------------


class _Http:
    """Till's client, over a real socket to the waitress server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def post(self, path: str, json: Any, headers: dict[str, str]) -> _Reply:
        return _Reply(self.session.post(self.base + path, json=json, headers=headers, timeout=30))

    def close(self) -> None:
        self.session.close()


class _Reply:
    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self._json = response.json()

    def get_json(self) -> Any:
        return self._json


def _race(calls: list[Callable[[], _Reply]]) -> list[_Reply]:
    """Run the calls at the same moment on their own threads."""
    barrier = threading.Barrier(len(calls))
    results: list[_Reply | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = calls[index]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _racing_returns(
    store: Store, till: Till, wall: FakeWall, server: RunningServer
) -> tuple[str, Till, Till, Envelope, Envelope]:
    """A one-item card sale on register 1; both registers seal a return of it."""
    tee = uid(store.rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 1, 1299)])
    register, device = store.new_register("Back till")
    back = open_till(store, register, device, wall, "cashier2")
    line = [return_line(1, tee, 1, 1299, 217, original_line=1)]
    front_return = till.event("return.completed", return_body(till, sale["receipt"], line))
    back_return = back.event("return.completed", return_body(back, sale["receipt"], line))
    return sale["receipt"], till, back, front_return, back_return


def test_two_registers_returning_the_same_line_live_one_wins(
    store: Store, till: Till, wall: FakeWall, server: RunningServer
) -> None:
    rt = store.rt
    number, front, back, front_return, back_return = _racing_returns(store, till, wall, server)
    clients = [_Http(server.url), _Http(server.url)]
    front.client, back.client = clients  # type: ignore[assignment]
    try:
        replies = _race([lambda: front.push(front_return), lambda: back.push(back_return)])
    finally:
        front.client = back.client = store.client
        for client in clients:
            client.close()
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200, 422], [r.get_json() for r in replies]
    loser = next(r for r in replies if r.status_code == 422).get_json()
    assert loser["error"] == "over_return"
    assert (loser["details"]["sold"], loser["details"]["returned"]) == (1, 1)
    assert rt.db.scalar("SELECT count(*) FROM return_doc") == 1
    winner = front_return if replies[0].status_code == 200 else back_return
    assert rt.db.scalar("SELECT id FROM return_doc") == winner.id
    line = till.receipt(number)["lines"][0]
    assert (line["returned"], line["returnable"], line["refunded"]) == (1, 0, 1299)
    assert on_hand(store, "TEE-M-RED") == 10


def test_two_registers_replaying_the_same_return_both_kept_second_flagged(
    store: Store, till: Till, wall: FakeWall, server: RunningServer
) -> None:
    rt = store.rt
    number, front, back, front_return, back_return = _racing_returns(store, till, wall, server)
    clients = [_Http(server.url), _Http(server.url)]
    front.client, back.client = clients  # type: ignore[assignment]
    try:
        replies = _race(
            [
                lambda: front.push(front_return, mode="replay", token=store.device),
                lambda: back.push(back_return, mode="replay", token=back.device),
            ]
        )
    finally:
        front.client = back.client = store.client
        for client in clients:
            client.close()
    assert [r.status_code for r in replies] == [200, 200], [r.get_json() for r in replies]
    # Both happened at the counter; the one the appliance applied second is flagged.
    order = [
        row[0]
        for row in rt.db.query(
            "SELECT id FROM event WHERE id IN (?, ?) ORDER BY store_seq",
            (front_return.id, back_return.id),
        )
    ]
    assert len(order) == 2
    flags = {
        row["event"]: row["code"]
        for row in rt.db.query("SELECT event, code FROM review_flag WHERE code = 'over_return'")
    }
    assert flags == {order[1]: "over_return"}
    line = till.receipt(number)["lines"][0]
    assert (line["returned"], line["returnable"]) == (2, 0)


def test_a_weighed_line_is_returned_in_its_own_unit(store: Store, till: Till) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    # 1.500 (milli-units) at 9.50 a unit: 14.25, tax included 14.25 / 6 = 2.375 → 2.38.
    body = till.sale_body([Item(mug, 1, 950)])
    body["lines"][0].update(qty=1500, qty_scale=1000)
    body["totals"] = {"subtotal": 1425, "discount": 0, "tax": 238, "total": 1425}
    body["tenders"][0]["amount"] = 1425
    ok(till.send("sale.completed", body))
    # 0.500 back: a third of the line.
    half = return_line(1, mug, 500, 475, 79, original_line=1)
    wrong_unit = dict(half, qty_scale=1)
    refused(
        till.send("return.completed", return_body(till, body["receipt"], [wrong_unit])),
        "wrong_unit",
    )
    half["qty_scale"] = 1000
    ok(till.send("return.completed", return_body(till, body["receipt"], [half])))
    [line] = till.receipt(body["receipt"])["lines"]
    assert (line["qty"], line["qty_scale"], line["returned"], line["returnable"]) == (
        1500,
        1000,
        500,
        1000,
    )


@pytest.mark.parametrize("mode", ["live", "replay"])
def test_return_line_numbers_are_unique(store: Store, till: Till, mode: str) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 2, 1299)])
    lines = [
        return_line(1, tee, 1, 1299, 217, original_line=1),
        return_line(1, tee, 1, 1299, 216, original_line=1),
    ]
    body = return_body(till, sale["receipt"], lines)
    if mode == "live":
        refused(till.send("return.completed", body), "duplicate_line")
        return
    env = till.event("return.completed", body)
    data = ok(till.push(env, mode="replay", token=store.device))
    assert "duplicate_line" in [f["code"] for f in data["flagged"][0]["flags"]]
    assert rt.db.scalar("SELECT SUM(qty) FROM return_line WHERE return_id = ?", (env.id,)) == 2
    assert on_hand(store, "TEE-M-RED") == 10


def test_a_return_on_a_closed_shift_is_refused(store: Store, till: Till) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    _, sale = sell(till, [Item(tee, 1, 1299)])
    float_counts = {"2000": 5, "1000": 5, "500": 4, "100": 20}
    ok(
        till.send(
            "shift.closed", {"shift": till.shift, "cash": {"counts": float_counts, "total": 19000}}
        )
    )
    body = return_body(till, sale["receipt"], [return_line(1, tee, 1, 1299, 217, original_line=1)])
    refused(till.send("return.completed", body), "shift_closed")
