"""The stock ledger: receipts, sales, returns, adjustments, counts and transfers as events;
on-hand by the protocol fold (and its SQL twin); count shrink, recounts and variance."""

from __future__ import annotations

from calendar import timegm
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.runtime import Runtime
from appliance.stock import book, on_hand, quick_on_hand, relevel
from protocol.envelope import Envelope, Override
from protocol.hlc import HLC
from protocol.ids import new_id
from protocol.pricing import LineResult, refund_for
from protocol.stock import Movement
from tests.appliance.selling.helpers import as_staff, till_for
from tests.appliance.till import Item, Till
from tests.conftest import PINS, FakeWall, Store

FLOAT = {"2000": 5}


def uid(rt: Runtime, sku: str) -> str:
    value: str = rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,))
    return value


def at(hour: int, minute: int) -> int:
    """Milliseconds of 25 November 2026, hh:mm UTC (the ARCHITECTURE.md example's day)."""
    return timegm((2026, 11, 25, hour, minute, 0)) * 1000


def approve(store: Store, till: Till, action: str, approver: str) -> Override:
    """An approval for `action`, the approver typing their PIN on the till."""
    response = store.client.post(
        "/api/v1/overrides",
        json={"action": action, "reason": "stock work", "approver_pin": PINS[approver]},
        headers=store.bearer(till.staff_token or ""),
    )
    assert response.status_code == 201, response.get_json()
    return Override(
        id=response.get_json()["id"], action=action, approver=store.staff[approver], offline=False
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


def stock(store: Store, variant: str) -> dict[str, Any]:
    return ok(
        store.client.get(f"/api/v1/stock?variant={variant}", headers=store.bearer(store.device))
    )


def variance(store: Store, count: str) -> dict[str, Any]:
    token = store.login("supervisor")
    return ok(store.client.get(f"/api/v1/stock/counts/{count}", headers=store.bearer(token)))


def receive(till: Till, variant: str, qty: int) -> Any:
    return till.send(
        "stock.received", {"lines": [{"variant": variant, "qty": qty}], "reference": "PO-1"}
    )


def adjust(till: Till, variant: str, qty: int, reason: str = "damaged", **kwargs: Any) -> Any:
    return till.send(
        "stock.adjusted", {"lines": [{"variant": variant, "qty": qty, "reason": reason}]}, **kwargs
    )


def count_body(lines: dict[str, int], count: str | None = None) -> dict[str, Any]:
    return {
        "count": count or new_id(),
        "scope": "cycle",
        "lines": [{"variant": v, "counted": n} for v, n in lines.items()],
    }


def cash_sale(till: Till, variant: str, qty: int, price: int) -> dict[str, Any]:
    body = till.sale_body([Item(variant, qty, price)])
    body["tenders"] = [{"kind": "cash", "amount": body["totals"]["total"]}]
    return body


def return_body(
    till: Till, rt: Runtime, sale: dict[str, Any], qty: int, reason: str
) -> dict[str, Any]:
    """Return `qty` of line 1 of `sale` (already applied), refunded as the pricing code says."""
    row = rt.db.one(
        "SELECT l.* FROM sale_line l JOIN sale s ON s.id = l.sale WHERE s.receipt = ? AND l.line = 1",
        (sale["receipt"],),
    )
    assert row is not None
    paid = LineResult(
        gross=row["gross"],
        line_discount=row["line_discount"],
        order_discount=row["order_discount"],
        net=row["net"],
        tax=row["tax"],
        total=row["total"],
    )
    before = rt.db.scalar(
        "SELECT COALESCE(SUM(qty), 0) FROM return_line WHERE original_sale = ? AND original_line = 1",
        (row["sale"],),
    )
    refund, tax = refund_for(paid, sold_qty=row["qty"], returned_before=before, returning=qty)
    return {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "original": sale["receipt"],
        "lines": [
            {
                "line": 1,
                "original_line": 1,
                "variant": row["variant"],
                "qty": qty,
                "refund": refund,
                "tax": tax,
                "reason": reason,
            }
        ],
        "tenders": [{"kind": "cash", "amount": refund}],
        "totals": {"total": refund, "tax": tax},
    }


def ledger_kinds(rt: Runtime, variant: str) -> list[tuple[str, int]]:
    return [
        (row["kind"], row["qty"])
        for row in rt.db.query(
            "SELECT kind, qty FROM stock_ledger WHERE variant = ?"
            " ORDER BY hlc_wall, hlc_counter, hlc_node, origin",
            (variant,),
        )
    ]


# ---- deltas -----------------------------------------------------------------------------


def test_receipts_add_sales_subtract_and_only_restocking_returns_add(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT))
    assert ok(receive(till, tee, 10))["flagged"] == []
    assert stock(store, tee)["on_hand"] == 10

    sale = cash_sale(till, tee, 3, 1299)
    ok(till.send("sale.completed", sale))
    assert stock(store, "TEE-M-RED")["on_hand"] == 7

    # Wrong size: back on the shelf. Defective: refunded, but not sellable.
    ok(till.send("return.completed", return_body(till, rt, sale, 1, "wrong_size")))
    assert stock(store, tee)["on_hand"] == 8
    ok(till.send("return.completed", return_body(till, rt, sale, 1, "defective")))
    ok(till.send("return.completed", return_body(till, rt, sale, 1, "recall")))
    result = stock(store, tee)
    assert (result["on_hand"], result["negative"], result["last_count"]) == (8, False, None)
    assert ledger_kinds(rt, tee) == [("receipt", 10), ("sale", -3), ("return", 1)]
    assert on_hand(rt, tee).on_hand == quick_on_hand(rt, tee) == 8
    # Another variant is untouched.
    assert stock(store, "MUG-1")["on_hand"] == 0


def test_receiving_an_unknown_variant_is_refused(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = till_for(store, wall)
    refused(receive(till, new_id(), 5), 422, "unknown_variant")
    assert store.rt.db.scalar("SELECT count(*) FROM stock_ledger") == 0


def test_adjustments_need_a_supervisor_or_an_approval_and_a_reason(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    cashier = till_for(store, wall)
    ok(receive(cashier, tee, 10))

    refused(adjust(cashier, tee, -2), 422, "override_required")
    # An approval for another action is not one for this.
    refused(
        adjust(cashier, tee, -2, override=approve(store, cashier, "no_sale", "supervisor")),
        422,
        "override_required",
    )
    approval = approve(store, cashier, "stock_adjust", "supervisor")
    refused(adjust(cashier, tee, -2, "lottery", override=approval), 422, "unknown_reason")
    # A return or cash reason is not an adjustment reason.
    refused(adjust(cashier, tee, -2, "changed_mind", override=approval), 422, "unknown_reason")
    refused(adjust(cashier, tee, -2, "supplies", override=approval), 422, "unknown_reason")
    refused(adjust(cashier, tee, 0, "damaged", override=approval), 422, "bad_quantity")
    assert stock(store, tee)["on_hand"] == 10

    ok(adjust(cashier, tee, -2, "damaged", override=approval))
    assert stock(store, tee)["on_hand"] == 8
    refused(adjust(cashier, tee, -1, "theft", override=approval), 422, "approval_invalid")

    ok(adjust(as_staff(store, cashier, "supervisor"), tee, 3, "found"))
    assert stock(store, tee)["on_hand"] == 11
    assert [
        (row["qty"], row["reason"])
        for row in rt.db.query(
            "SELECT qty, reason FROM stock_ledger WHERE kind = 'adjust' ORDER BY hlc_wall, hlc_counter"
        )
    ] == [(-2, "damaged"), (3, "found")]


def test_counts_are_absolute_and_need_a_manager_or_a_managers_approval(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    cashier = till_for(store, wall)
    ok(receive(cashier, tee, 10))
    ok(receive(cashier, mug, 4))

    refused(cashier.send("stock.counted", count_body({tee: 7})), 422, "override_required")
    supervisor = as_staff(store, cashier, "supervisor")
    refused(supervisor.send("stock.counted", count_body({tee: 7})), 422, "override_required")
    as_staff(store, cashier, "cashier")
    # A supervisor's PIN cannot approve a count.
    wrong_pin = store.client.post(
        "/api/v1/overrides",
        json={
            "action": "stock_count_approve",
            "reason": "count",
            "approver_pin": PINS["supervisor"],
        },
        headers=store.bearer(cashier.staff_token or ""),
    )
    refused(wrong_pin, 401, "wrong_pin")
    assert stock(store, tee)["on_hand"] == 10

    approval = approve(store, cashier, "stock_count_approve", "manager")
    counted = ok(cashier.send("stock.counted", count_body({tee: 7}), override=approval))
    assert counted["flagged"] == []
    result = stock(store, tee)
    assert result["on_hand"] == 7
    assert {k: result["last_count"][k] for k in ("counted", "expected", "shrink")} == {
        "counted": 7,
        "expected": 10,
        "shrink": -3,
    }
    # Absolute: a later count replaces on-hand whatever came before; deltas after it add.
    wall.advance(3600)
    manager = as_staff(store, cashier, "manager")
    ok(manager.send("stock.counted", count_body({tee: 12, mug: 4})))
    ok(receive(manager, tee, 2))
    result = stock(store, tee)
    assert result["on_hand"] == 14
    assert (result["last_count"]["expected"], result["last_count"]["shrink"]) == (7, 5)
    assert stock(store, mug)["last_count"]["shrink"] == 0
    assert ledger_kinds(rt, tee) == [("receipt", 10), ("count", 7), ("count", 12), ("receipt", 2)]
    # The same count id twice is refused.
    again = count_body({tee: 1})
    again["count"] = rt.db.scalar("SELECT id FROM stock_count ORDER BY at DESC LIMIT 1")
    refused(manager.send("stock.counted", again), 422, "duplicate_count")


# ---- the worked example -----------------------------------------------------------------


class Example:
    """ARCHITECTURE.md's worked example: three registers, offline from 10:00 to 12:00."""

    def __init__(self, store: Store, wall: FakeWall) -> None:
        self.store, self.wall, rt = store, wall, store.rt
        self.x = uid(rt, "TEE-M-RED")
        self.a = self._till(store.register_id, store.device)
        self.b = self._till(*store.new_register("B"))
        self.c = self._till(*store.new_register("C"))
        self.count_08 = new_id()
        self.count_11 = new_id()

    def _till(self, origin: str, device: str) -> Till:
        return Till(
            client=self.store.client, store="s01", origin=origin, device=device, wall=self.wall
        )

    def event(self, till: Till, when: int, type: str, body: dict[str, Any], who: str) -> Envelope:
        self.wall.ms = when
        return till.event(type, body, actor=self.store.staff[who])

    def replay(self, till: Till, *events: Envelope) -> dict[str, Any]:
        return ok(till.push(*events, mode="replay", token=till.device))

    def open(self) -> None:
        """Before the outage: A and B open their shifts; C counts 10 at 08:00."""
        for till, when in ((self.a, at(7, 50)), (self.b, at(7, 55))):
            till.shift = new_id()
            opened = self.event(
                till,
                when,
                "shift.opened",
                {"shift": till.shift, "float": {"counts": FLOAT, "total": 10000}},
                "cashier",
            )
            assert self.replay(till, opened)["flagged"] == []
        first = self.event(
            self.c, at(8, 0), "stock.counted", count_body({self.x: 10}, self.count_08), "manager"
        )
        assert self.replay(self.c, first)["flagged"] == []

    def offline(self) -> dict[str, list[Envelope]]:
        """A sells 3 (10:05); B sells 2 (10:20); B takes 1 back (10:40); C counts 5 (11:00);
        A sells 1 (11:30). Each register stamps with its own HLC."""
        a_sale = cash_sale(self.a, self.x, 3, 1299)
        a1 = self.event(self.a, at(10, 5), "sale.completed", a_sale, "cashier")
        b_sale = cash_sale(self.b, self.x, 2, 1299)
        b1 = self.event(self.b, at(10, 20), "sale.completed", b_sale, "cashier2")
        # The refund of one of two: half of 25.98 with half of its 4.33 tax, as priced.
        refund, tax = refund_for(
            LineResult(
                gross=2598, line_discount=0, order_discount=0, net=2598, tax=433, total=2598
            ),
            sold_qty=2,
            returned_before=0,
            returning=1,
        )
        b_return = {
            "receipt": self.b.next_receipt(),
            "shift": self.b.shift,
            "original": b_sale["receipt"],
            "lines": [
                {
                    "line": 1,
                    "original_line": 1,
                    "variant": self.x,
                    "qty": 1,
                    "refund": refund,
                    "tax": tax,
                    "reason": "changed_mind",
                }
            ],
            "tenders": [{"kind": "cash", "amount": refund}],
            "totals": {"total": refund, "tax": tax},
        }
        b2 = self.event(self.b, at(10, 40), "return.completed", b_return, "cashier2")
        c2 = self.event(
            self.c, at(11, 0), "stock.counted", count_body({self.x: 5}, self.count_11), "manager"
        )
        a2 = self.event(
            self.a, at(11, 30), "sale.completed", cash_sale(self.a, self.x, 1, 1299), "cashier"
        )
        return {"A": [a1, a2], "B": [b1, b2], "C": [c2]}

    def arrive(self, order: str) -> None:
        """Back online at 12:00: each register's outbox replays in seq order, interleaved."""
        self.wall.ms = at(12, 0)
        queues = self.offline_events
        tills = {"A": self.a, "B": self.b, "C": self.c}
        for letter in order:
            result = self.replay(tills[letter], queues[letter].pop(0))
            assert result["flagged"] == [], result
        assert not any(queues.values())

    def run(self, order: str) -> None:
        self.open()
        self.offline_events = self.offline()
        self.arrive(order)


@pytest.mark.parametrize("order", ["BBCAA", "AACBB", "CABBA"])
def test_the_worked_example_through_pushed_events(
    store: Store, catalog: Runtime, wall: FakeWall, order: str
) -> None:
    """On-hand 5 − 1 = 4; the 11:00 count's shrink 5 − (10 − 3 − 2 + 1) = −1, in any order."""
    example = Example(store, wall)
    example.run(order)
    rt, x = store.rt, example.x

    result = stock(store, x)
    assert result["on_hand"] == 4
    assert result["negative"] is False
    assert result["last_count"] == {
        "at": "2026-11-25T11:00:00.000Z",
        "counted": 5,
        "expected": 6,
        "shrink": -1,
    }
    assert on_hand(rt, x).on_hand == quick_on_hand(rt, x) == 4

    report = variance(store, example.count_11)
    assert report["lines"] == [
        {
            "variant": x,
            "sku": "TEE-M-RED",
            "title": report["lines"][0]["title"],
            "expected": 6,
            "counted": 5,
            "difference": -1,
            "unit_cost": 450,
            "value": -450,
        }
    ]
    assert (report["total_difference_value"], report["variants_with_difference"]) == (-450, 1)
    # The 08:00 count found 10 where the ledger had nothing.
    assert variance(store, example.count_08)["lines"][0]["difference"] == 10


def test_a_late_event_older_than_the_anchor_changes_shrink_not_on_hand(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    example = Example(store, wall)
    example.run("BBCAA")
    x = example.x
    # A fourth register booked in 2 at 10:50 and only syncs at 12:30.
    late = example._till(*store.new_register("D"))
    received = example.event(
        late, at(10, 50), "stock.received", {"lines": [{"variant": x, "qty": 2}]}, "cashier"
    )
    wall.ms = at(12, 30)
    assert example.replay(late, received)["flagged"] == []

    result = stock(store, x)
    assert result["on_hand"] == 4
    # 5 − (10 − 3 − 2 + 1 + 2) = −3
    assert (result["last_count"]["expected"], result["last_count"]["shrink"]) == (8, -3)
    line = variance(store, example.count_11)["lines"][0]
    assert (line["expected"], line["difference"], line["value"]) == (8, -3, -1350)

    # A late delta after the anchor moves on-hand, and not the shrink.
    later = example.event(
        late, at(11, 45), "stock.received", {"lines": [{"variant": x, "qty": 6}]}, "cashier"
    )
    wall.ms = at(12, 40)
    example.replay(late, later)
    result = stock(store, x)
    assert (result["on_hand"], result["last_count"]["shrink"]) == (10, -3)


# ---- recounts ---------------------------------------------------------------------------


def test_two_disagreeing_counts_within_30_minutes_ask_for_a_recount(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    manager = till_for(store, wall, "manager")
    ok(manager.open_shift(FLOAT))
    ok(manager.send("stock.counted", count_body({tee: 10, mug: 6})))

    # 10 minutes later: a sale of 2 tees, then a second count that agrees for the tees
    # (8 = 10 − 2) but not for the mugs (5 ≠ 6).
    wall.advance(5 * 60)
    ok(manager.send("sale.completed", cash_sale(manager, tee, 2, 1299)))
    wall.advance(5 * 60)
    second = ok(manager.send("stock.counted", count_body({tee: 8, mug: 5})))
    [flagged] = second["flagged"]
    assert [f["code"] for f in flagged["flags"]] == ["recount"]
    assert "MUG-1" in flagged["flags"][0]["message"]
    assert "TEE-M-RED" not in flagged["flags"][0]["message"]
    assert rt.db.scalar("SELECT count(*) FROM review_flag WHERE code = 'recount'") == 1

    # An agreeing count 10 minutes on is not flagged; a disagreeing one 40 minutes on is
    # ordinary shrink, not a recount.
    wall.advance(10 * 60)
    assert ok(manager.send("stock.counted", count_body({tee: 8, mug: 5})))["flagged"] == []
    wall.advance(40 * 60)
    as_staff(store, manager, "manager")  # the idle session has expired
    assert ok(manager.send("stock.counted", count_body({tee: 7})))["flagged"] == []
    assert stock(store, tee)["last_count"]["shrink"] == -1


def test_a_late_count_that_disagrees_with_a_later_one_asks_for_a_recount(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Offline, register B counted 10 at 09:00; the appliance already has A's 8 at 09:10."""
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    a = Till(
        client=store.client, store="s01", origin=store.register_id, device=store.device, wall=wall
    )
    b_id, b_device = store.new_register("B")
    b = Till(client=store.client, store="s01", origin=b_id, device=b_device, wall=wall)
    wall.ms = at(9, 0)
    early = b.event("stock.counted", count_body({tee: 10}), actor=store.staff["manager"])
    wall.ms = at(9, 10)
    later = a.event("stock.counted", count_body({tee: 8}), actor=store.staff["manager"])
    assert ok(a.push(later, mode="replay", token=a.device))["flagged"] == []
    wall.ms = at(9, 30)
    result = ok(b.push(early, mode="replay", token=b.device))
    assert [f["code"] for e in result["flagged"] for f in e["flags"]] == ["recount"]
    assert stock(store, tee)["last_count"]["shrink"] == -2


def test_a_late_count_that_leaves_on_hand_negative_is_flagged(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Counted 10 at 09:00, 5 sold at 11:00; a count of 2 made at 10:00 syncs last: −3."""
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    a = Till(
        client=store.client, store="s01", origin=store.register_id, device=store.device, wall=wall
    )
    b_id, b_device = store.new_register("B")
    b = Till(client=store.client, store="s01", origin=b_id, device=b_device, wall=wall)
    wall.ms = at(8, 0)
    a.shift = new_id()
    events = [
        a.event(
            "shift.opened",
            {"shift": a.shift, "float": {"counts": FLOAT, "total": 10000}},
            actor=store.staff["cashier"],
        )
    ]
    wall.ms = at(9, 0)
    events.append(a.event("stock.counted", count_body({tee: 10}), actor=store.staff["manager"]))
    wall.ms = at(10, 0)
    late = b.event("stock.counted", count_body({tee: 2}), actor=store.staff["manager"])
    wall.ms = at(11, 0)
    events.append(
        a.event("sale.completed", cash_sale(a, tee, 5, 1299), actor=store.staff["cashier"])
    )
    wall.ms = at(11, 30)
    assert ok(a.push(*events, mode="replay", token=a.device))["flagged"] == []
    assert stock(store, tee)["on_hand"] == 5
    result = ok(b.push(late, mode="replay", token=b.device))
    assert [f["code"] for e in result["flagged"] for f in e["flags"]] == ["negative_stock"]
    assert (stock(store, tee)["on_hand"], stock(store, tee)["negative"]) == (-3, True)


# ---- transfers and negative stock -------------------------------------------------------


def test_transfers_out_and_in_move_stock(store: Store, catalog: Runtime, wall: FakeWall) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    till = till_for(store, wall)
    ok(receive(till, tee, 10))
    transfer = new_id()
    shipped = ok(
        till.send(
            "transfer.shipped",
            {"transfer": transfer, "to_store": "s02", "lines": [{"variant": tee, "qty": 4}]},
        )
    )
    assert shipped["flagged"] == []
    assert stock(store, tee)["on_hand"] == 6
    incoming = new_id()
    ok(
        till.send(
            "transfer.received",
            {"transfer": incoming, "from_store": "s03", "lines": [{"variant": tee, "qty": 3}]},
        )
    )
    assert stock(store, tee)["on_hand"] == 9
    assert [
        (row["kind"], row["qty"], row["reason"])
        for row in rt.db.query(
            "SELECT kind, qty, reason FROM stock_ledger WHERE kind LIKE 'transfer%'"
            " ORDER BY hlc_wall, hlc_counter"
        )
    ] == [("transfer_out", -4, transfer), ("transfer_in", 3, incoming)]
    # A store neither ships to nor receives from itself.
    refused(
        till.send(
            "transfer.shipped",
            {"transfer": new_id(), "to_store": "s01", "lines": [{"variant": tee, "qty": 1}]},
        ),
        422,
        "bad_transfer",
    )
    refused(
        till.send(
            "transfer.received",
            {"transfer": new_id(), "from_store": "s01", "lines": [{"variant": tee, "qty": 1}]},
        ),
        422,
        "bad_transfer",
    )
    assert stock(store, tee)["on_hand"] == 9


@pytest.mark.parametrize("kind", ["transfer.shipped", "transfer.received"])
def test_a_transfer_needs_the_staff_member_who_moved_it(
    store: Store, catalog: Runtime, wall: FakeWall, kind: str
) -> None:
    tee = uid(store.rt, "TEE-M-RED")
    till = till_for(store, wall)
    till.actor = None
    other = {"to_store": "s02"} if kind == "transfer.shipped" else {"from_store": "s02"}
    body = {"transfer": new_id(), **other, "lines": [{"variant": tee, "qty": 2}]}
    refused(till.send(kind, body), 422, "actor_required")
    assert store.rt.db.scalar("SELECT count(*) FROM stock_ledger") == 0
    till.actor = store.staff["cashier"]
    ok(till.send(kind, body))


def test_negative_on_hand_is_allowed_and_flagged(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    mug = uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT))
    ok(receive(till, mug, 1))
    # Never refuse a sale: 3 sold with 1 on hand.
    sold = ok(till.send("sale.completed", cash_sale(till, mug, 3, 950)))
    [flagged] = sold["flagged"]
    assert [f["code"] for f in flagged["flags"]] == ["negative_stock"]
    assert "MUG-1" in flagged["flags"][0]["message"]
    result = stock(store, mug)
    assert (result["on_hand"], result["negative"]) == (-2, True)

    shipped = ok(
        till.send(
            "transfer.shipped",
            {"transfer": new_id(), "to_store": "s02", "lines": [{"variant": mug, "qty": 1}]},
        )
    )
    assert [f["code"] for e in shipped["flagged"] for f in e["flags"]] == ["negative_stock"]
    # Booking stock in that brings it back to zero is not flagged.
    assert ok(receive(till, mug, 3))["flagged"] == []
    result = stock(store, mug)
    assert (result["on_hand"], result["negative"]) == (0, False)


# ---- variance ---------------------------------------------------------------------------


def test_the_variance_report_values_differences_at_cost_or_price(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    from appliance.catalog.csvio import import_csv

    rt = store.rt
    imported = import_csv(
        rt,
        (
            b"sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
            b"reorder_qty,pack_size,active\r\n"
            b"PEN-1,Gel Pen,,,Office,Acme,,1.20,standard,,,1,1\r\n"
        ),
    )
    assert imported.applied, imported
    tee, mug, pen = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1"), uid(rt, "PEN-1")
    assert rt.db.scalar("SELECT cost FROM variant WHERE uid = ?", (pen,)) is None
    manager = till_for(store, wall, "manager")
    ok(
        manager.send(
            "stock.received", {"lines": [{"variant": v, "qty": 10} for v in (tee, mug, pen)]}
        )
    )
    count = count_body({tee: 8, mug: 11, pen: 7})
    ok(manager.send("stock.counted", count))

    report = variance(store, count["count"])
    assert [
        (
            line["sku"],
            line["expected"],
            line["counted"],
            line["difference"],
            line["unit_cost"],
            line["value"],
        )
        for line in report["lines"]
    ] == [
        ("TEE-M-RED", 10, 8, -2, 450, -900),
        ("MUG-1", 10, 11, 1, 300, 300),
        ("PEN-1", 10, 7, -3, 120, -360),  # no cost: valued at price
    ]
    assert report["total_difference_value"] == -900 + 300 - 360
    assert (report["variants"], report["variants_with_difference"]) == (3, 3)
    assert (report["scope"], report["blind"], report["currency"]) == ("cycle", False, "EUR")
    assert report["actor"] == store.staff["manager"]
    # Supervisors and managers read it; a cashier does not.
    cashier = store.login("cashier")
    response = store.client.get(
        f"/api/v1/stock/counts/{count['count']}", headers=store.bearer(cashier)
    )
    assert response.status_code == 403
    missing = store.client.get(
        f"/api/v1/stock/counts/{new_id()}", headers=store.bearer(store.login("supervisor"))
    )
    assert missing.status_code == 404


def test_a_replayed_count_of_one_variant_twice_folds_the_same_in_sql(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    """Offline, a count listed the tees twice (7, then 10): kept and flagged on replay. Both
    rows share one stamp; the SQL fold must pick the same anchor as the protocol fold."""
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    till = Till(
        client=store.client, store="s01", origin=store.register_id, device=store.device, wall=wall
    )
    body = count_body({tee: 7})
    body["lines"].append({"variant": tee, "counted": 10})
    for lines in (body["lines"], list(reversed(body["lines"]))):
        counted = till.event(
            "stock.counted",
            {**body, "count": new_id(), "lines": lines},
            actor=store.staff["manager"],
        )
        result = ok(till.push(counted, mode="replay", token=store.device))
        assert [f["code"] for e in result["flagged"] for f in e["flags"]] == ["duplicate_line"]
        assert quick_on_hand(rt, tee) == on_hand(rt, tee).on_hand == stock(store, tee)["on_hand"]
        wall.advance(3600)


# ---- the fold in SQL --------------------------------------------------------------------

ORIGINS = ("s01-r01", "s01-r02", "s01-r03")
DELTAS = [m for m in Movement if m is not Movement.COUNT]

row_strategy = st.tuples(
    st.booleans(),  # a count?
    st.integers(-12, 12),  # qty (a count takes its absolute value)
    st.sampled_from(DELTAS),
    st.integers(0, 6),  # wall offset: small, so stamps collide
    st.integers(0, 2),  # counter
    st.sampled_from(ORIGINS),  # node
    st.sampled_from(ORIGINS),  # origin
    st.integers(0, 4),  # event: rows may share one (lines of one event)
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(row_strategy, max_size=25))
def test_the_stock_level_equals_the_protocol_fold(rt: Runtime, rows: list[Any]) -> None:
    """Rows booked in any arrival order (counts among them, stamps colliding): the level the
    appliance keeps is what the protocol fold computes from the whole ledger."""
    variant = new_id()  # a fresh variant per example: the database is shared between them
    with rt.db.write():
        for line, (is_count, qty, delta, wall_offset, counter, node, origin, event) in enumerate(
            rows, start=1
        ):
            book(
                rt,
                event=f"{variant}-{event}",
                line=line,
                variant=variant,
                kind=Movement.COUNT if is_count else delta,
                qty=abs(qty) if is_count else qty,
                hlc=HLC(wall_ms=1_795_000_000_000 + wall_offset, counter=counter, node=node),
                origin=origin,
            )
            assert quick_on_hand(rt, variant) == on_hand(rt, variant).on_hand
        # Rebuilt from the ledger alone (as the migration does), it is the same.
        relevel(rt, variant)
        assert quick_on_hand(rt, variant) == on_hand(rt, variant).on_hand
