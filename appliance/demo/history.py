"""Two weeks of realistic store history for the demo, made through the real selling code.

Three registers open shifts each morning, sell with split tenders and discounts, take
returns and exchanges, move cash, count stock and close blind, every event sealed and
pushed exactly as a register would, with approvals from the demo supervisor and manager.
Time is simulated, so the history ends the day before the demo store was made.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance import push, selling, shifts, stock
from appliance.balances import offline_used
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings
from appliance.staff.directory import StaffMember, get_staff
from appliance.staff.overrides import issue
from appliance.staff.registers import Register, get_register
from appliance.staff.sessions import Caller
from protocol.envelope import Override, envelope_dict
from protocol.ids import new_id
from protocol.permissions import Action
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
from protocol.simulate import SealingTill

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# Progress: (day done, days).
Progress = Callable[[int, int], None]


@dataclass
class SimClock:
    """The simulated wall clock every part of the run reads."""

    ms: int

    def __call__(self) -> int:
        return self.ms


@dataclass(frozen=True, slots=True)
class Product:
    """What the demo sells: a variant, its price and tax rate."""

    uid: str
    price: int
    rate: int
    weight: float


@dataclass
class SimRegister:
    """One register: its chain (on the simulated clock), its receipts, who is logged in."""

    register: Register
    chain: SealingTill
    receipts: int = 0
    shift: str | None = None
    cashier: StaffMember | None = None

    def seal(
        self,
        type: str,
        body: dict[str, Any],
        actor: str,
        override: Override | None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """The next event of this register's chain, at the simulated time."""
        return envelope_dict(
            self.chain.seal(type, body, actor=actor, override=override, event_id=event_id)
        )

    def next_receipt(self) -> str:
        self.receipts += 1
        return f"{self.register.id}-{self.receipts:06d}"


@dataclass
class SoldLine:
    """A line that can still be returned."""

    sale: str
    receipt: str
    line: int
    uid: str
    qty: int
    result: LineResult
    kinds: tuple[str, ...]
    returned: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryReport:
    """What the demo history holds."""

    days: int
    events: int
    sales: int
    returns: int
    exchanges: int
    overrides: int
    shifts: int


@dataclass
class _Run:
    rt: Runtime
    sim: SimClock
    rng: random.Random
    products: list[Product]
    weights: list[float]
    registers: list[SimRegister]
    cashiers: list[StaffMember]
    supervisor: StaffMember
    manager: StaffMember
    catalog_version: int
    sold: list[SoldLine] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    # ---- plumbing -----------------------------------------------------------------------

    def push(self, till: SimRegister, staff: StaffMember, *events: dict[str, Any]) -> None:
        result = push.push(self.rt, till.register, list(events), mode="live", staff=staff)
        self.counts["events"] = self.counts.get("events", 0) + result.applied

    def event(
        self,
        till: SimRegister,
        staff: StaffMember,
        type: str,
        body: dict[str, Any],
        override: Override | None = None,
    ) -> dict[str, Any]:
        return till.seal(type, body, staff.id, override)

    def approve(
        self,
        till: SimRegister,
        requester: StaffMember,
        action: Action,
        amount: int | None,
        reason: str,
    ) -> Override:
        approver = self.manager if action is Action.STOCK_COUNT_APPROVE else self.supervisor
        caller = Caller(register=till.register, staff=requester)
        # The supervisor "types their PIN" in the story; checking it 150 times with argon2id
        # would only slow the demo down, so the approval is issued as after a good PIN.
        granted = issue(
            self.rt, caller, approver=approver, action=action, amount=amount, reason=reason
        )
        self.counts["overrides"] = self.counts.get("overrides", 0) + 1
        return Override(id=granted.id, action=action.value, approver=approver.id, offline=False)

    # ---- the day ------------------------------------------------------------------------

    def pick(self) -> Product:
        return self.rng.choices(self.products, weights=self.weights, k=1)[0]

    def open(self, till: SimRegister, cashier: StaffMember) -> None:
        till.cashier = cashier
        till.shift = new_id()
        counts = {"2000": 5, "1000": 10, "500": 10, "200": 20, "100": 20, "50": 20}
        total = sum(int(k) * v for k, v in counts.items())
        self.push(
            till,
            cashier,
            self.event(
                till,
                cashier,
                "shift.opened",
                {"shift": till.shift, "float": {"counts": counts, "total": total}},
            ),
        )
        self.counts["shifts"] = self.counts.get("shifts", 0) + 1

    def sale_body(
        self,
        till: SimRegister,
        staff: StaffMember,
        items: Sequence[tuple[Product, int]],
        *,
        exchange_credit: int = 0,
    ) -> tuple[dict[str, Any], list[LineResult], list[str]]:
        """A priced sale with tenders; sometimes a discount that needs a supervisor."""
        rng = self.rng
        settings = self.rt.settings
        discounts: list[Discount | None] = []
        approvals: list[str | None] = []
        for _ in items:
            roll = rng.random() if not exchange_credit else 1.0
            if roll < 0.06:
                discounts.append(Discount(kind=DiscountKind.PERCENT, value=rng.choice((500, 1000))))
            elif roll < 0.075:
                discounts.append(
                    Discount(kind=DiscountKind.PERCENT, value=rng.choice((1500, 2000, 2500)))
                )
            else:
                discounts.append(None)
            approvals.append(None)
        inputs = [
            LineInput(
                qty=qty, unit_price=product.price, tax_rate_ppm=product.rate, discount=discount
            )
            for (product, qty), discount in zip(items, discounts, strict=True)
        ]
        totals = price_sale(
            inputs,
            order_discount=None,
            mode=TaxMode(settings.tax_mode),
            rounding=TaxRounding(settings.tax_rounding),
        )
        for index, (discount, result) in enumerate(zip(discounts, totals.lines, strict=True)):
            if discount is not None and discount.value > settings.discount_threshold_bp:
                override = self.approve(
                    till,
                    staff,
                    Action.DISCOUNT_OVER_THRESHOLD,
                    result.line_discount,
                    "damaged packaging",
                )
                approvals[index] = override.id
        lines = []
        for number, ((product, qty), discount, approval) in enumerate(
            zip(items, discounts, approvals, strict=True), start=1
        ):
            line: dict[str, Any] = {
                "line": number,
                "variant": product.uid,
                "qty": qty,
                "unit_price": product.price,
            }
            if discount is not None:
                line["discount"] = {"kind": discount.kind.value, "value": discount.value}
                if approval:
                    line["discount"]["approval"] = approval
            lines.append(line)
        tenders = self.tenders(totals.total, exchange_credit)
        body = {
            "receipt": till.next_receipt(),
            "shift": till.shift,
            "catalog_version": self.catalog_version,
            "currency": settings.currency,
            "lines": lines,
            "tenders": tenders,
            "totals": {
                "subtotal": totals.subtotal,
                "discount": totals.discount,
                "tax": totals.tax,
                "total": totals.total,
            },
        }
        kinds = [t["kind"] for t in tenders]
        return body, list(totals.lines), kinds

    def tenders(self, total: int, exchange_credit: int) -> list[dict[str, Any]]:
        rng = self.rng
        tenders: list[dict[str, Any]] = []
        if exchange_credit:
            credit = min(exchange_credit, total)
            tenders.append({"kind": "exchange", "amount": credit})
            total -= credit
        if total <= 0:
            return tenders
        roll = rng.random()
        if roll < 0.42:
            tendered = -(-total // 500) * 500 if rng.random() < 0.7 else total
            tenders.append({"kind": "cash", "amount": total, "tendered": tendered})
        elif roll < 0.9 or total < 200:
            tenders.append(
                {"kind": "card", "amount": total, "reference": f"AUTH{rng.randrange(10**6):06d}"}
            )
        elif roll < 0.96:
            cash = min(total - 1, rng.choice((500, 1000, 2000)))
            tenders.append({"kind": "cash", "amount": cash, "tendered": cash})
            tenders.append(
                {
                    "kind": "card",
                    "amount": total - cash,
                    "reference": f"AUTH{rng.randrange(10**6):06d}",
                }
            )
        else:
            card = f"GC-{rng.randrange(10**8):08d}"
            # The demo store has no cloud, so a gift card pays as it would offline: at most
            # what the store's limit per card leaves (decisions.md §46; a card number can
            # come up again), a bank card the rest.
            left = self.rt.settings.offline_redeem_limit - offline_used(self.rt, "gift_card", card)
            gift = max(0, min(total, left))
            if gift:
                tenders.append({"kind": "gift_card", "amount": gift, "reference": card})
            if total > gift:
                tenders.append(
                    {"kind": "card", "amount": total - gift, "reference": f"AUTH-{card}"}
                )
        return tenders

    def sell(self, till: SimRegister) -> None:
        staff = till.cashier
        assert staff is not None
        count = self.rng.choices((1, 2, 3, 4), weights=(50, 28, 14, 8), k=1)[0]
        items = [
            (self.pick(), self.rng.choices((1, 2, 3), weights=(85, 12, 3), k=1)[0])
            for _ in range(count)
        ]
        body, results, kinds = self.sale_body(till, staff, items)
        envelope = self.event(till, staff, "sale.completed", body)
        self.push(till, staff, envelope)
        self.counts["sales"] = self.counts.get("sales", 0) + 1
        for number, ((product, qty), result) in enumerate(
            zip(items, results, strict=True), start=1
        ):
            self.sold.append(
                SoldLine(
                    sale=envelope["id"],
                    receipt=body["receipt"],
                    line=number,
                    uid=product.uid,
                    qty=qty,
                    result=result,
                    kinds=tuple(kinds),
                )
            )
        # Now and then the customer changes their mind at once: a post-void.
        if self.rng.random() < 0.006:
            override = self.approve(
                till, staff, Action.POST_VOID, body["totals"]["total"], "customer left"
            )
            void = {
                "sale": envelope["id"],
                "receipt": body["receipt"],
                "reason": "Customer changed their mind",
            }
            self.push(till, staff, self.event(till, staff, "sale.voided", void, override))
            self.sold = [s for s in self.sold if s.sale != envelope["id"]]

    def give_back(self, till: SimRegister, *, exchange: bool) -> None:
        """A return against an earlier receipt (often another register's); as an exchange, a
        sale of a similar item in the same push, settled as the difference."""
        staff = till.cashier
        assert staff is not None
        candidates = [s for s in self.sold[:-20] if s.returned < s.qty]
        if not candidates:
            return
        sold = self.rng.choice(candidates)
        total, tax = refund_for(
            sold.result, sold_qty=sold.qty, returned_before=sold.returned, returning=1
        )
        if total == 0:
            return
        reason = self.rng.choices(
            ("changed_mind", "wrong_size", "defective", "not_as_described", "damaged_on_arrival"),
            weights=(40, 30, 15, 10, 5),
            k=1,
        )[0]
        return_id, sale_id = new_id(), new_id()
        replacement: tuple[dict[str, Any], list[LineResult], list[str]] | None = None
        if exchange:
            near = min(self.rng.sample(self.products, 12), key=lambda p: abs(p.price - total))
            if near.price < total:
                near = max(self.products[:400], key=lambda p: p.price if p.price >= total else -1)
            replacement = self.sale_body(till, staff, [(near, 1)], exchange_credit=total)
            tenders: list[dict[str, Any]] = [{"kind": "exchange", "amount": total}]
        else:
            tenders = self.refund_tenders(sold.receipt, total)
        body: dict[str, Any] = {
            "receipt": till.next_receipt(),
            "shift": till.shift,
            "original": sold.receipt,
            "lines": [
                {
                    "line": 1,
                    "original_line": sold.line,
                    "variant": sold.uid,
                    "qty": 1,
                    "refund": total,
                    "tax": tax,
                    "reason": reason,
                }
            ],
            "tenders": tenders,
            "totals": {"total": total, "tax": tax},
        }
        if replacement is not None:
            body["exchange"] = sale_id
            replacement[0]["exchange_of"] = return_id
        events = [till.seal("return.completed", body, staff.id, None, return_id)]
        if replacement is not None:
            events.append(
                till.seal(
                    "sale.completed",
                    replacement[0],
                    staff.id,
                    None,
                    sale_id,
                )
            )
        self.push(till, staff, *events)
        sold.returned += 1
        self.counts["returns"] = self.counts.get("returns", 0) + 1
        if replacement is not None:
            self.counts["exchanges"] = self.counts.get("exchanges", 0) + 1
            self.counts["sales"] = self.counts.get("sales", 0) + 1

    def refund_tenders(self, receipt: str, total: int) -> list[dict[str, Any]]:
        """Back the way it was paid: card first, then cash, the rest as store credit."""
        left = {
            t["kind"]: t["paid"] - t["refunded"]
            for t in selling.receipt(self.rt, receipt)["tenders"]
        }
        tenders: list[dict[str, Any]] = []
        for kind in ("card", "cash"):
            amount = min(total, left.get(kind, 0))
            if amount > 0:
                tender: dict[str, Any] = {"kind": kind, "amount": amount}
                if kind == "card":
                    tender["reference"] = f"RF{self.rng.randrange(10**6):06d}"
                tenders.append(tender)
                total -= amount
        if total > 0:
            tenders.append(
                {
                    "kind": "store_credit",
                    "amount": total,
                    "reference": f"SC-{self.rng.randrange(10**6):06d}",
                }
            )
        return tenders

    def return_without_receipt(self, till: SimRegister) -> None:
        staff = till.cashier
        assert staff is not None
        product = self.pick()
        total = product.price
        tax = _tax_in(total, product.rate)
        override = self.approve(
            till, staff, Action.RETURN_WITHOUT_RECEIPT, total, "gift, no receipt"
        )
        body = {
            "receipt": till.next_receipt(),
            "shift": till.shift,
            "lines": [
                {
                    "line": 1,
                    "variant": product.uid,
                    "qty": 1,
                    "refund": total,
                    "tax": tax,
                    "reason": "changed_mind",
                }
            ],
            "tenders": [
                {
                    "kind": "store_credit",
                    "amount": total,
                    "reference": f"SC-{self.rng.randrange(10**6):06d}",
                }
            ],
            "totals": {"total": total, "tax": tax},
        }
        self.push(till, staff, self.event(till, staff, "return.completed", body, override))
        self.counts["returns"] = self.counts.get("returns", 0) + 1

    def cash(self, till: SimRegister, kind: str, amount: int, reason: str, note: str) -> None:
        staff = till.cashier
        assert staff is not None
        action = {"pay_in": Action.PAY_IN, "pay_out": Action.PAY_OUT, "no_sale": Action.NO_SALE}[
            kind
        ]
        override = self.approve(till, staff, action, amount if kind != "no_sale" else None, note)
        body = {"shift": till.shift, "kind": kind, "amount": amount, "reason": reason, "note": note}
        self.push(till, staff, self.event(till, staff, "cash.moved", body, override))

    def close(self, till: SimRegister) -> None:
        staff = till.cashier
        assert staff is not None and till.shift is not None
        expected = shifts.report(self.rt, till.shift)["cash"]["expected"]
        roll = self.rng.random()
        counted = (
            expected if roll < 0.8 else expected + self.rng.choice((-200, -50, -10, 10, 20, -1000))
        )
        counted = max(counted, 0)
        counts = _as_denominations(counted)
        card = sum(
            row[0]
            for row in self.rt.db.query(
                "SELECT COALESCE(SUM(amount), 0) FROM payment WHERE shift = ? AND kind = 'card'",
                (till.shift,),
            )
        )
        body = {
            "shift": till.shift,
            "cash": {"counts": counts, "total": counted},
            "counted": {"card": card},
        }
        self.push(till, staff, self.event(till, staff, "shift.closed", body))
        till.shift = None

    def receive(self, till: SimRegister, lines: int) -> None:
        """A delivery: what ran low, topped up with a few random lines."""
        staff = self.manager
        low = [p for p in self.products if stock.quick_on_hand(self.rt, p.uid) < 6]
        picked = low[:400] + self.rng.sample(self.products, lines)
        chosen = list({p.uid: p for p in picked}.values())
        body = {
            "lines": [{"variant": p.uid, "qty": self.rng.choice((6, 12, 12, 24))} for p in chosen],
            "reference": f"DN-{self.rng.randrange(10**5):05d}",
        }
        self.push(till, staff, self.event(till, staff, "stock.received", body))

    def count(self, till: SimRegister, products: Sequence[Product], *, scope: str) -> None:
        staff = self.manager
        lines = []
        for product in products:
            current = stock.quick_on_hand(self.rt, product.uid)
            if scope == "full":
                counted = self.rng.randint(6, 40)
            else:
                counted = max(0, current + self.rng.choice((0, 0, 0, 0, -1, -1, -2, 1)))
            lines.append({"variant": product.uid, "counted": counted})
        body = {"count": new_id(), "scope": scope, "blind": scope == "cycle", "lines": lines}
        self.push(till, staff, self.event(till, staff, "stock.counted", body))


def _tax_in(amount: int, rate: int) -> int:
    from appliance.returns import tax_in

    return tax_in(amount, rate)


def _as_denominations(amount: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for denomination in (5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1):
        pieces, amount = divmod(amount, denomination)
        if pieces:
            counts[str(denomination)] = pieces
    return counts


def make_history(
    settings: Settings,
    *,
    registers: Sequence[str],
    cashiers: Sequence[str],
    supervisor: str,
    manager: str,
    days: int = 14,
    end_ms: int,
    seed: int = 11,
    progress: Progress | None = None,
) -> HistoryReport:
    """Simulate `days` of trading that end at `end_ms` (midnight UTC of the first real day)."""
    start = end_ms - days * DAY_MS
    sim = SimClock(start + 7 * HOUR_MS)
    rt = open_runtime(settings, wall=sim)
    # Made once, at init, which removes the whole store if it fails: an fsync per event
    # (synchronous=FULL, right for real sales) would only make the demo slow to set up.
    rt.db.execute("PRAGMA synchronous = NORMAL")
    try:
        rng = random.Random(seed)
        rows = rt.db.query(
            "SELECT uid, price, tax_class FROM variant WHERE active = 1 AND price > 0 ORDER BY id"
        )
        products = [
            Product(
                uid=r["uid"],
                price=r["price"],
                rate=settings.tax_rate_ppm(r["tax_class"]),
                weight=0.0,
            )
            for r in rows
        ]
        # A few best sellers, a long tail: as in any shop.
        weights = [1.0 / (1 + (i % 97)) ** 0.8 for i in range(len(products))]
        rng.shuffle(weights)
        tills = [
            SimRegister(register=get_register(rt, r), chain=SealingTill(rt.store, r, wall=sim))
            for r in registers
        ]
        run = _Run(
            rt=rt,
            sim=sim,
            rng=rng,
            products=products,
            weights=weights,
            registers=tills,
            cashiers=[get_staff(rt, c) for c in cashiers],
            supervisor=get_staff(rt, supervisor),
            manager=get_staff(rt, manager),
            catalog_version=int(rt.db.scalar("SELECT COALESCE(MAX(version), 0) FROM catalog_feed")),
        )
        # Opening stock: a full count the morning before the first day.
        sim.ms = start + 7 * HOUR_MS
        for chunk in range(0, len(products), 1000):
            run.count(tills[0], products[chunk : chunk + 1000], scope="full")
        for day in range(days):
            _trade_day(run, start + day * DAY_MS, day)
            if progress:
                progress(day + 1, days)
    finally:
        rt.close()
    return HistoryReport(
        days=days,
        events=run.counts.get("events", 0),
        sales=run.counts.get("sales", 0),
        returns=run.counts.get("returns", 0),
        exchanges=run.counts.get("exchanges", 0),
        overrides=run.counts.get("overrides", 0),
        shifts=run.counts.get("shifts", 0),
    )


def _trade_day(run: _Run, midnight: int, day: int) -> None:
    """One day: deliveries and counts in the morning, trading, closes in the evening."""
    rng, sim = run.rng, run.sim
    sim.ms = max(sim.ms, midnight + 8 * HOUR_MS)
    if day % 2 == 0:
        run.receive(run.registers[0], rng.randint(15, 40))
    if day % 3 == 2:
        sim.ms += 20 * MINUTE_MS
        run.count(run.registers[0], rng.sample(run.products, 25), scope="cycle")
    staff = list(run.cashiers)
    rng.shuffle(staff)
    for index, till in enumerate(run.registers):
        sim.ms = midnight + 9 * HOUR_MS + index * 4 * MINUTE_MS
        run.open(till, staff[index % len(staff)])
    # A timeline of what happens on each register today, in time order.
    plan: list[tuple[int, int, str]] = []
    weekend = day % 7 in (5, 6)
    for index in range(len(run.registers)):
        t = midnight + 9 * HOUR_MS + 10 * MINUTE_MS
        while t < midnight + 17 * HOUR_MS + 50 * MINUTE_MS:
            hour = (t - midnight) // HOUR_MS
            busy = 1.8 if hour in (12, 13, 16, 17) else 1.0
            busy *= 1.3 if weekend else 1.0
            t += int(rng.expovariate(busy / (13 * MINUTE_MS)))
            plan.append((t, index, "sale"))
    for _ in range(rng.randint(1, 3)):
        plan.append(
            (midnight + rng.randint(10, 17) * HOUR_MS, rng.randrange(len(run.registers)), "return")
        )
    if day % 3 == 1:
        plan.append((midnight + 15 * HOUR_MS, 1, "exchange"))
    if day % 4 == 3:
        plan.append((midnight + 11 * HOUR_MS + 17 * MINUTE_MS, 2, "no_receipt"))
    plan.append((midnight + 13 * HOUR_MS + 5 * MINUTE_MS, 0, "pay_out"))
    if day % 5 == 0:
        plan.append((midnight + 10 * HOUR_MS + 30 * MINUTE_MS, 1, "pay_in"))
    if day % 2 == 1:
        plan.append((midnight + 14 * HOUR_MS + 41 * MINUTE_MS, 2, "no_sale"))
    plan.sort()
    for at, index, what in plan:
        if at >= midnight + 17 * HOUR_MS + 58 * MINUTE_MS:
            continue
        sim.ms = max(sim.ms, at)
        till = run.registers[index]
        if what == "sale":
            run.sell(till)
        elif what == "return":
            run.give_back(till, exchange=False)
        elif what == "exchange":
            run.give_back(till, exchange=True)
        elif what == "no_receipt":
            run.return_without_receipt(till)
        elif what == "pay_out":
            run.cash(
                till, "pay_out", rng.choice((850, 1299, 2450)), "supplies", "Cleaning supplies"
            )
        elif what == "pay_in":
            run.cash(till, "pay_in", 5000, "change_run", "Coins from the bank")
        elif what == "no_sale":
            run.cash(till, "no_sale", 0, "customer_change", "Change for a customer")
    for index, till in enumerate(run.registers):
        sim.ms = max(sim.ms, midnight + 18 * HOUR_MS + index * 3 * MINUTE_MS)
        run.close(till)
