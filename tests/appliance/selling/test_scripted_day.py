"""A whole trading day through the HTTP API only, on the real waitress server, checked to the cent.

Three registers are paired with the manager's PIN; three cashiers open shifts; 300 sales with
split tenders; 10 returns (one without a receipt, with an override) and 5 exchanges; a pay-in,
a pay-out, deliveries and a stock count; blind closes; Z reports. A model kept by the script
itself says what every total and every on-hand must be; the appliance must agree, and the
journal must verify.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from appliance.catalog.csvio import import_csv
from appliance.runtime import Runtime
from appliance.server import RunningServer
from protocol.envelope import Override, envelope_dict, format_at, seal
from protocol.hlc import Clock
from protocol.ids import new_id
from protocol.pricing import (
    Discount,
    DiscountKind,
    LineInput,
    LineResult,
    TaxMode,
    TaxRounding,
    price_sale,
    refund_for,
)
from tests.conftest import PINS, FakeWall, Store

RATES = {"standard": 200_000, "reduced": 70_000, "zero": 0}
TILLBOX = str(Path(sys.executable).parent / "tillbox")


def _catalog_csv() -> bytes:
    """Thirty variants over three tax classes, with prices that make rounding interesting."""
    rng = random.Random(5)
    rows = [
        "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,reorder_qty,pack_size,active"
    ]
    for n in range(30):
        tax = ("standard", "reduced", "zero")[n % 3]
        price = rng.choice((99, 149, 299, 349, 499, 1299, 1999, 2450, 3995))
        rows.append(
            f"DAY-{n:03d},Day Product {n},,,{'Food' if tax == 'reduced' else 'Goods'},Acme,{price // 2 / 100:.2f},{price / 100:.2f},{tax},,,1,1"
        )
    return ("\r\n".join(rows) + "\r\n").encode()


class Api:
    """The HTTP API on the real server, as a register talks to it."""

    def __init__(self, session: requests.Session, base: str) -> None:
        self.session = session
        self.base = base

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response.json()


@dataclass
class Register:
    """A paired tablet: its device token, its chain, its logged-in cashier and shift."""

    id: str
    device: str
    clock: Clock
    seq: int = 0
    prev: str | None = None
    receipts: int = 0
    token: str = ""
    staff: str = ""
    shift: str = ""


@dataclass
class Model:
    """What the script knows must be true, kept independently of the appliance."""

    on_hand: Counter[str] = field(default_factory=Counter)
    shift_sales: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    shift_tax: Counter[str] = field(default_factory=Counter)
    shift_returns: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    shift_return_tax: Counter[str] = field(default_factory=Counter)
    tender: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pay_in: Counter[str] = field(default_factory=Counter)
    pay_out: Counter[str] = field(default_factory=Counter)
    floats: dict[str, int] = field(default_factory=dict)


@dataclass
class Day:
    api: Api
    store: Store
    wall: FakeWall
    rng: random.Random
    products: dict[str, tuple[int, str]]
    model: Model = field(default_factory=Model)
    sold: list[dict[str, Any]] = field(default_factory=list)

    def tick(self, seconds: float = 37) -> None:
        self.wall.advance(seconds)

    def push(
        self, till: Register, type: str, body: dict[str, Any], override: Override | None = None
    ) -> Any:
        till.seq += 1
        env = seal(
            id=new_id(),
            type=type,
            store="s01",
            origin=till.id,
            seq=till.seq,
            hlc=str(till.clock.now()),
            at=format_at(self.wall()),
            actor=till.staff,
            override=override,
            body=body,
            prev=till.prev,
        )
        till.prev = env.hash
        result = self.api.ok(
            "POST", "/api/v1/events", till.token, json={"events": [envelope_dict(env)]}
        )
        assert result["acked"] == {till.id: till.seq}
        return env

    def push_pair(self, till: Register, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Several events in one push (an exchange: its return and its sale)."""
        sealed = []
        for event_id, type, body in events:
            till.seq += 1
            env = seal(
                id=event_id,
                type=type,
                store="s01",
                origin=till.id,
                seq=till.seq,
                hlc=str(till.clock.now()),
                at=format_at(self.wall()),
                actor=till.staff,
                override=None,
                body=body,
                prev=till.prev,
            )
            till.prev = env.hash
            sealed.append(envelope_dict(env))
        result = self.api.ok("POST", "/api/v1/events", till.token, json={"events": sealed})
        assert result["acked"] == {till.id: till.seq}

    def approval(self, till: Register, action: str, amount: int | None, reason: str) -> Override:
        body: dict[str, Any] = {
            "action": action,
            "reason": reason,
            "approver_pin": PINS["supervisor"],
        }
        if amount is not None:
            body["amount"] = amount
        granted = self.api.ok("POST", "/api/v1/overrides", till.token, json=body)
        return Override(
            id=granted["id"], action=action, approver=granted["approver"]["id"], offline=False
        )

    def receipt_no(self, till: Register) -> str:
        till.receipts += 1
        return f"{till.id}-{till.receipts:06d}"

    def price(self, items: list[tuple[str, int, int | None]]) -> tuple[Any, list[dict[str, Any]]]:
        inputs = []
        lines = []
        for number, (uid, qty, percent) in enumerate(items, start=1):
            price, tax_class = self.products[uid]
            discount = Discount(kind=DiscountKind.PERCENT, value=percent) if percent else None
            inputs.append(
                LineInput(
                    qty=qty, unit_price=price, tax_rate_ppm=RATES[tax_class], discount=discount
                )
            )
            line: dict[str, Any] = {"line": number, "variant": uid, "qty": qty, "unit_price": price}
            if percent:
                line["discount"] = {"kind": "percent", "value": percent}
            lines.append(line)
        totals = price_sale(
            inputs, order_discount=None, mode=TaxMode.INCLUSIVE, rounding=TaxRounding.LINE
        )
        return totals, lines

    def tenders(self, total: int, kind: str) -> list[dict[str, Any]]:
        if kind == "cash":
            return [{"kind": "cash", "amount": total, "tendered": -(-total // 1000) * 1000}]
        if kind == "card":
            return [{"kind": "card", "amount": total, "reference": f"A{self.rng.randrange(10**6)}"}]
        cash = min(total - 1, 500)
        return [
            {"kind": "cash", "amount": cash, "tendered": cash},
            {"kind": "card", "amount": total - cash, "reference": f"A{self.rng.randrange(10**6)}"},
        ]

    def sell(self, till: Register, *, kind: str) -> None:
        uids = list(self.products)
        items = [
            (
                self.rng.choice(uids),
                self.rng.choice((1, 1, 1, 2, 3)),
                self.rng.choice((None, None, None, 500, 1000)),
            )
            for _ in range(self.rng.randint(1, 3))
        ]
        # One line per variant, as a register adds quantities to the line it already has.
        merged: dict[str, tuple[str, int, int | None]] = {}
        for uid, qty, percent in items:
            old = merged.get(uid)
            merged[uid] = (uid, qty + (old[1] if old else 0), old[2] if old else percent)
        totals, lines = self.price(list(merged.values()))
        tenders = self.tenders(totals.total, kind)
        body = {
            "receipt": self.receipt_no(till),
            "shift": till.shift,
            "catalog_version": 10**9,
            "currency": "EUR",
            "lines": lines,
            "tenders": tenders,
            "totals": {
                "subtotal": totals.subtotal,
                "discount": totals.discount,
                "tax": totals.tax,
                "total": totals.total,
            },
        }
        self.push(till, "sale.completed", body)
        self.model.shift_sales[till.shift].append(totals.total)
        self.model.shift_tax[till.shift] += totals.tax
        for tender in tenders:
            self.model.tender[till.shift][tender["kind"]] += tender["amount"]
        for line, result in zip(lines, totals.lines, strict=True):
            self.model.on_hand[line["variant"]] -= line["qty"]
            self.sold.append(
                {
                    "receipt": body["receipt"],
                    "line": line["line"],
                    "variant": line["variant"],
                    "qty": line["qty"],
                    "result": result,
                    "returned": 0,
                    "tenders": tenders,
                }
            )


@pytest.fixture
def day(store: Store, server: RunningServer, wall: FakeWall) -> Day:
    report = import_csv(store.rt, _catalog_csv())
    assert report.applied and report.created == 30
    products = {
        row["uid"]: (row["price"], row["tax_class"])
        for row in store.rt.db.query(
            "SELECT uid, price, tax_class FROM variant WHERE sku LIKE 'DAY-%'"
        )
    }
    session = requests.Session()
    wall.ms = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000 + 7 * 3_600_000  # 07:00 UTC
    return Day(
        api=Api(session, server.url),
        store=store,
        wall=wall,
        rng=random.Random(2026),
        products=products,
    )


def test_a_scripted_day(day: Day, store: Store, catalog: Runtime) -> None:
    api, model = day.api, day.model
    # ---- morning: pair three tablets with the manager's PIN, staff them -----------------------
    tills = []
    for name in ("Front 1", "Front 2", "Back counter"):
        paired = api.ok(
            "POST", "/api/v1/registers", json={"name": name, "manager_pin": PINS["manager"]}
        )
        rid = paired["register"]["id"]
        tills.append(Register(id=rid, device=paired["token"], clock=Clock(rid, wall=day.wall)))
    manager_login = api.ok(
        "POST",
        "/api/v1/sessions",
        tills[0].device,
        json={"staff": store.staff["manager"], "pin": PINS["manager"]},
    )
    cashiers = [store.staff["cashier"], store.staff["cashier2"]]
    added = api.ok(
        "POST",
        "/api/v1/staff",
        manager_login["token"],
        json={"name": "Third Cashier", "role": "cashier", "pin": "36912"},
    )
    cashiers.append(added["id"])
    pins = {
        store.staff["cashier"]: PINS["cashier"],
        store.staff["cashier2"]: PINS["cashier2"],
        added["id"]: "36912",
    }

    # The manager counts the opening stock on the back counter, then books a delivery.
    back = tills[2]
    back.token, back.staff = manager_login["token"], store.staff["manager"]
    manager_session = api.ok(
        "POST",
        "/api/v1/sessions",
        back.device,
        json={"staff": store.staff["manager"], "pin": PINS["manager"]},
    )
    back.token = manager_session["token"]
    opening = {uid: day.rng.randint(20, 60) for uid in day.products}
    day.push(
        back,
        "stock.counted",
        {
            "count": new_id(),
            "scope": "full",
            "lines": [{"variant": u, "counted": q} for u, q in opening.items()],
        },
    )
    for uid, quantity in opening.items():
        model.on_hand[uid] = quantity
    day.tick(600)
    delivery = dict(day.rng.sample(sorted(opening.items()), 8))
    day.push(
        back,
        "stock.received",
        {"lines": [{"variant": u, "qty": 12} for u in delivery], "reference": "DN-1"},
    )
    for uid in delivery:
        model.on_hand[uid] += 12

    # ---- shifts open ------------------------------------------------------------------------
    for till, cashier, float_counts in zip(
        tills,
        cashiers,
        (
            {"2000": 2, "1000": 4, "500": 4, "100": 10},
            {"1000": 5, "500": 6, "200": 10},
            {"5000": 1, "100": 20},
        ),
        strict=True,
    ):
        login = api.ok(
            "POST", "/api/v1/sessions", till.device, json={"staff": cashier, "pin": pins[cashier]}
        )
        till.token, till.staff, till.shift = login["token"], cashier, new_id()
        total = sum(int(k) * v for k, v in float_counts.items())
        day.push(
            till,
            "shift.opened",
            {"shift": till.shift, "float": {"counts": float_counts, "total": total}},
        )
        model.floats[till.shift] = total
        assert api.ok("GET", "/api/v1/shifts/current", till.device)["id"] == till.shift

    # ---- trading: 300 sales, split tenders ----------------------------------------------------
    for n in range(300):
        day.tick(day.rng.randint(20, 90))
        day.sell(tills[n % 3], kind=("cash", "card", "split")[day.rng.randrange(3)])

    # ---- cash moves with a supervisor's approval ---------------------------------------------
    day.tick()
    override = day.approval(tills[1], "pay_in", 2000, "coins from the bank")
    day.push(
        tills[1],
        "cash.moved",
        {"shift": tills[1].shift, "kind": "pay_in", "amount": 2000, "reason": "change_run"},
        override,
    )
    model.pay_in[tills[1].shift] += 2000
    day.tick()
    override = day.approval(tills[2], "pay_out", 1550, "window cleaner")
    day.push(
        tills[2],
        "cash.moved",
        {"shift": tills[2].shift, "kind": "pay_out", "amount": 1550, "reason": "supplies"},
        override,
    )
    model.pay_out[tills[2].shift] += 1550

    # ---- 9 returns with a receipt, refunded to the original tenders --------------------------
    returned = 0
    for sold in day.rng.sample(day.sold[:250], 40):
        if returned == 9:
            break
        day.tick()
        till = tills[returned % 3]
        receipt = api.ok("GET", f"/api/v1/receipts/{sold['receipt']}", till.device)
        line = next(line for line in receipt["lines"] if line["line"] == sold["line"])
        if line["returnable"] < 1:
            continue
        result = LineResult(
            gross=line["gross"],
            line_discount=0,
            order_discount=line["discount"],
            net=line["total"],
            tax=line["tax"],
            total=line["total"],
        )
        refund, tax = refund_for(
            result, sold_qty=line["qty"], returned_before=line["returned"], returning=1
        )
        left = {t["kind"]: t["paid"] - t["refunded"] for t in receipt["tenders"]}
        tenders, rest = [], refund
        for kind in ("card", "cash"):
            amount = min(rest, left.get(kind, 0))
            if amount:
                tender: dict[str, Any] = {"kind": kind, "amount": amount}
                if kind == "card":
                    tender["reference"] = "RF1"
                tenders.append(tender)
                rest -= amount
        assert rest == 0
        reason = ("changed_mind", "defective", "wrong_size")[returned % 3]
        day.push(
            till,
            "return.completed",
            {
                "receipt": day.receipt_no(till),
                "shift": till.shift,
                "original": sold["receipt"],
                "lines": [
                    {
                        "line": 1,
                        "original_line": sold["line"],
                        "variant": sold["variant"],
                        "qty": 1,
                        "refund": refund,
                        "tax": tax,
                        "reason": reason,
                    }
                ],
                "tenders": tenders,
                "totals": {"total": refund, "tax": tax},
            },
        )
        model.shift_returns[till.shift].append(refund)
        model.shift_return_tax[till.shift] += tax
        for tender in tenders:
            model.tender[till.shift][tender["kind"]] -= tender["amount"]
        if reason != "defective":  # defective goes to damaged: not back on hand
            model.on_hand[sold["variant"]] += 1
        returned += 1
    assert returned == 9

    # ---- 1 return without a receipt: a supervisor's approval, store credit ----------------------
    day.tick()
    till = tills[0]
    uid = sorted(day.products)[4]
    price, tax_class = day.products[uid]
    from appliance.returns import tax_in

    refund, tax = price, tax_in(price, RATES[tax_class])
    override = day.approval(till, "return_without_receipt", refund, "gift, no receipt")
    day.push(
        till,
        "return.completed",
        {
            "receipt": day.receipt_no(till),
            "shift": till.shift,
            "lines": [
                {
                    "line": 1,
                    "variant": uid,
                    "qty": 1,
                    "refund": refund,
                    "tax": tax,
                    "reason": "changed_mind",
                }
            ],
            "tenders": [{"kind": "store_credit", "amount": refund, "reference": "SC-1"}],
            "totals": {"total": refund, "tax": tax},
        },
        override,
    )
    model.shift_returns[till.shift].append(refund)
    model.shift_return_tax[till.shift] += tax
    model.tender[till.shift]["store_credit"] -= refund
    model.on_hand[uid] += 1

    # ---- 5 exchanges: return one, take a dearer one, pay the difference by card ----------------
    exchanges = 0
    for sold in day.rng.sample(day.sold[:250], 60):
        if exchanges == 5:
            break
        till = tills[exchanges % 3]
        receipt = api.ok("GET", f"/api/v1/receipts/{sold['receipt']}", till.device)
        line = next(line for line in receipt["lines"] if line["line"] == sold["line"])
        if line["returnable"] < 1 or line["unit_price"] >= max(p for p, _ in day.products.values()):
            continue
        day.tick()
        result = LineResult(
            gross=line["gross"],
            line_discount=0,
            order_discount=line["discount"],
            net=line["total"],
            tax=line["tax"],
            total=line["total"],
        )
        credit, tax = refund_for(
            result, sold_qty=line["qty"], returned_before=line["returned"], returning=1
        )
        dearer = max(day.products, key=lambda u: day.products[u][0])
        totals, lines = day.price([(dearer, 1, None)])
        return_id, sale_id = new_id(), new_id()
        ret = {
            "receipt": day.receipt_no(till),
            "shift": till.shift,
            "original": sold["receipt"],
            "lines": [
                {
                    "line": 1,
                    "original_line": sold["line"],
                    "variant": sold["variant"],
                    "qty": 1,
                    "refund": credit,
                    "tax": tax,
                    "reason": "wrong_size",
                }
            ],
            "tenders": [{"kind": "exchange", "amount": credit}],
            "totals": {"total": credit, "tax": tax},
            "exchange": sale_id,
        }
        sale = {
            "receipt": day.receipt_no(till),
            "shift": till.shift,
            "catalog_version": 10**9,
            "currency": "EUR",
            "lines": lines,
            "exchange_of": return_id,
            "tenders": [{"kind": "exchange", "amount": credit}]
            + (
                [{"kind": "card", "amount": totals.total - credit, "reference": "EX1"}]
                if totals.total > credit
                else []
            ),
            "totals": {
                "subtotal": totals.subtotal,
                "discount": totals.discount,
                "tax": totals.tax,
                "total": totals.total,
            },
        }
        day.push_pair(
            till, [(return_id, "return.completed", ret), (sale_id, "sale.completed", sale)]
        )
        model.shift_returns[till.shift].append(credit)
        model.shift_return_tax[till.shift] += tax
        model.shift_sales[till.shift].append(totals.total)
        model.shift_tax[till.shift] += totals.tax
        model.tender[till.shift]["card"] += totals.total - credit
        model.on_hand[sold["variant"]] += 1
        model.on_hand[dearer] -= 1
        exchanges += 1
    assert exchanges == 5

    # ---- a cycle count by the manager: three items a little short -------------------------------
    day.tick(300)
    counted = {uid: max(0, model.on_hand[uid] - 1) for uid in sorted(day.products)[:3]}
    count_id = new_id()
    # The manager steps up to the back counter, logs in, counts, and hands it back.
    cashier_token, cashier_id = back.token, back.staff
    back.token = api.ok(
        "POST",
        "/api/v1/sessions",
        back.device,
        json={"staff": store.staff["manager"], "pin": PINS["manager"]},
    )["token"]
    back.staff = store.staff["manager"]
    day.push(
        back,
        "stock.counted",
        {
            "count": count_id,
            "scope": "cycle",
            "blind": True,
            "lines": [{"variant": u, "counted": q} for u, q in counted.items()],
        },
    )
    for uid, quantity in counted.items():  # a count is absolute (Counter.update would add)
        model.on_hand[uid] = quantity
    variance = api.ok("GET", f"/api/v1/stock/counts/{count_id}", back.token)
    assert [line["difference"] for line in variance["lines"]] == [-1, -1, -1]
    back.token, back.staff = cashier_token, cashier_id

    # ---- blind closes: one drawer 0.50 short ----------------------------------------------------
    for index, till in enumerate(tills):
        day.tick(120)
        expected_cash = (
            model.floats[till.shift]
            + model.tender[till.shift]["cash"]
            + model.pay_in[till.shift]
            - model.pay_out[till.shift]
        )
        counted_cash = expected_cash - (50 if index == 1 else 0)
        counts = {}
        rest = counted_cash
        for denomination in (5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1):
            counts[str(denomination)], rest = divmod(rest, denomination)
        counts = {k: v for k, v in counts.items() if v}
        day.push(
            till,
            "shift.closed",
            {
                "shift": till.shift,
                "cash": {"counts": counts, "total": counted_cash},
                "counted": {"card": model.tender[till.shift]["card"]},
            },
        )

    # ---- Z reports: every figure to the cent ------------------------------------------------------
    supervisor = api.ok(
        "POST",
        "/api/v1/sessions",
        tills[0].device,
        json={"staff": store.staff["supervisor"], "pin": PINS["supervisor"]},
    )
    numbers = []
    for index, till in enumerate(tills):
        z = api.ok("GET", f"/api/v1/shifts/{till.shift}/report?kind=z", supervisor["token"])
        sales, refunds = model.shift_sales[till.shift], model.shift_returns[till.shift]
        assert z["sales"]["count"] == len(sales)
        assert z["sales"]["total"] == sum(sales)
        assert z["sales"]["tax"] == model.shift_tax[till.shift]
        assert z["returns"]["count"] == len(refunds)
        assert z["returns"]["total"] == sum(refunds)
        assert z["returns"]["tax"] == model.shift_return_tax[till.shift]
        assert z["net_sales"] == sum(sales) - sum(refunds)
        assert z["net_tax"] == model.shift_tax[till.shift] - model.shift_return_tax[till.shift]
        cash = z["cash"]
        assert cash["float"] == model.floats[till.shift]
        assert cash["pay_ins"] == model.pay_in[till.shift]
        assert cash["pay_outs"] == model.pay_out[till.shift]
        expected = (
            model.floats[till.shift]
            + model.tender[till.shift]["cash"]
            + model.pay_in[till.shift]
            - model.pay_out[till.shift]
        )
        assert cash["expected"] == expected
        assert cash["over_short"] == (-50 if index == 1 else 0)
        card = next(t for t in z["tenders"] if t["kind"] == "card")
        assert card["expected"] == model.tender[till.shift]["card"] and card["difference"] == 0
        assert sum(t["tax"] for t in z["taxes"]) == z["net_tax"]
        numbers.append(z["number"])
    assert numbers == [1, 2, 3]
    summary = api.ok(
        "GET", f"/api/v1/reports/day?date={format_at(day.wall())[:10]}", supervisor["token"]
    )
    assert summary["totals"]["net_sales"] == sum(
        sum(model.shift_sales[t.shift]) - sum(model.shift_returns[t.shift]) for t in tills
    )
    assert summary["over_short"] == -50 and summary["open_shifts"] == 0

    # ---- every on-hand, and the journal --------------------------------------------------------
    for uid in day.products:
        stock = api.ok("GET", f"/api/v1/stock?variant={uid}", tills[0].device)
        assert stock["on_hand"] == model.on_hand[uid], (uid, stock)
    store.rt.db.close()
    verified = subprocess.run(
        [TILLBOX, "appliance", "verify-journal", "--data", str(store.rt.settings.data_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert "journal intact" in verified.stdout
    day.api.session.close()
