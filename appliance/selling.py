"""Sales: rules and projections for sale.completed and sale.voided, and receipt lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from appliance.balances import KINDS as BALANCE_KINDS
from appliance.balances import check_sale_tenders
from appliance.errors import NotFound
from appliance.runtime import Runtime
from appliance.stock import flag_negative_after, ledger
from protocol.bodies import ReceiptRequested, SaleCompleted, SaleVoided
from protocol.permissions import Action
from protocol.pricing import (
    BP,
    Discount,
    DiscountKind,
    LineInput,
    SaleTotals,
    TaxMode,
    TaxRounding,
    discount_share_bp,
    price_sale,
)
from protocol.stock import Movement

if TYPE_CHECKING:
    from appliance.push import Apply


@dataclass(frozen=True, slots=True)
class VariantFacts:
    """What a sale line needs of its variant: the price it had at a catalog version."""

    uid: str
    sku: str
    title: str
    tax_class: str
    list_price: int | None


def variant_facts(
    rt: Runtime, uids: list[str], catalog_version: int
) -> dict[str, VariantFacts | None]:
    """Each variant as a register saw it at `catalog_version`; None for an unknown one."""
    found: dict[str, VariantFacts | None] = dict.fromkeys(uids)
    rows = rt.db.query(
        "SELECT v.uid, v.sku, v.tax_class, f.doc ->> '$.title' AS title,"
        " (SELECT price FROM price_history h WHERE h.variant = v.uid AND h.version <= ?"
        "  ORDER BY h.version DESC LIMIT 1) AS list_price"
        " FROM variant v JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
        " WHERE v.uid IN (SELECT value FROM json_each(?))",
        (catalog_version, msgspec.json.encode(list(found)).decode()),
    )
    for row in rows:
        found[row["uid"]] = VariantFacts(
            uid=row["uid"],
            sku=row["sku"],
            title=row["title"],
            tax_class=row["tax_class"],
            list_price=row["list_price"],
        )
    return found


def tax_mode(rt: Runtime) -> tuple[TaxMode, TaxRounding]:
    """The store's tax mode and rounding."""
    return TaxMode(rt.settings.tax_mode), TaxRounding(rt.settings.tax_rounding)


def _discount(body: Any, *, cap: int | None = None) -> Discount | None:
    """The pricing discount of a body's; `cap` limits an amount (and a percent to 100 %)."""
    if body is None:
        return None
    value = body.value
    if cap is not None:
        value = min(value, BP if body.kind == DiscountKind.PERCENT else cap)
    return Discount(kind=DiscountKind(body.kind), value=value)


def _share_bp(discount: Any, amount: int, base: int) -> int:
    """How big a discount is against the threshold, in basis points.

    A percentage is its own size: 10 % of 12.99 takes 1.30 after rounding, which is 10.008 %
    of the price, but the cashier gave 10 % and must not need an approval at a 10 % threshold.
    An amount is measured against what it comes off, rounded up.
    """
    if discount is not None and discount.kind == DiscountKind.PERCENT:
        return int(discount.value)
    return discount_share_bp(amount, base)


def price(
    rt: Runtime,
    sale: SaleCompleted,
    facts: dict[str, VariantFacts | None],
    *,
    capped: bool = False,
) -> SaleTotals:
    """The sale's totals as the appliance computes them (the register's must match).

    A discount larger than what it comes off is a ValueError, unless `capped`: then it takes
    off everything and no more (a replayed sale with such a discount is kept, and flagged).
    """
    mode, rounding = tax_mode(rt)
    lines = []
    for line in sale.lines:
        known = facts.get(line.variant)
        rate = rt.settings.tax_rate_ppm(known.tax_class) if known is not None else 0
        undiscounted = LineInput(
            qty=line.qty,
            qty_scale=line.qty_scale,
            unit_price=line.unit_price,
            tax_rate_ppm=rate,
            voided=line.voided,
        )
        cap = undiscounted.gross if capped else None
        lines.append(
            LineInput(
                qty=line.qty,
                qty_scale=line.qty_scale,
                unit_price=line.unit_price,
                tax_rate_ppm=rate,
                discount=_discount(line.discount, cap=cap),
                voided=line.voided,
            )
        )
    order_cap = None
    if capped and sale.order_discount is not None:
        before_order = price_sale(lines, order_discount=None, mode=mode, rounding=rounding)
        order_cap = sum(r.net for r in before_order.lines)
    return price_sale(
        lines,
        order_discount=_discount(sale.order_discount, cap=order_cap),
        mode=mode,
        rounding=rounding,
    )


def receipt_taken(rt: Runtime, receipt: str) -> bool:
    """True when a sale or a return already has this receipt number."""
    return bool(
        rt.db.scalar(
            "SELECT EXISTS (SELECT 1 FROM sale WHERE receipt = :r)"
            " OR EXISTS (SELECT 1 FROM return_doc WHERE receipt = :r)",
            {"r": receipt},
        )
    )


def check_receipt_number(step: Apply, receipt: str) -> None:
    """Receipt numbers start with the register's id and are never reused."""
    if not receipt.startswith(step.env.origin + "-"):
        step.breach("wrong_receipt", f"receipt {receipt} is not {step.env.origin}'s")
    if receipt_taken(step.rt, receipt):
        step.breach("duplicate_receipt", f"receipt {receipt} is already used", receipt=receipt)


def unique_line_numbers(step: Apply, numbers: list[int]) -> list[int]:
    """The line numbers to store a document's lines under: as given, when they are unique.

    A repeated number is a breach. Replayed, the event is kept, so a repeat is stored under
    the next number after the highest (lines are keyed by number; it is flagged anyway).
    """
    seen: set[int] = set()
    spare = max(numbers, default=0) + 1
    stored = []
    for number in numbers:
        if number in seen:
            number, spare = spare, spare + 1
        seen.add(number)
        stored.append(number)
    if stored != numbers:
        step.breach("duplicate_line", "line numbers must be unique")
    return stored


def pay(step: Apply, shift: str, tenders: Any, *, sign: int) -> None:
    """Record tenders as money in (+1, a sale) or out (−1, a refund) of the shift."""
    for index, tender in enumerate(tenders):
        change = None
        if tender.tendered is not None:
            change = tender.tendered - tender.amount
        step.rt.db.execute(
            "INSERT INTO payment (event, idx, shift, kind, amount, reference, tendered, change)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                step.env.id,
                index,
                shift,
                tender.kind,
                sign * tender.amount,
                tender.reference,
                tender.tendered,
                change,
            ),
        )


def check_tenders(step: Apply, tenders: Any, total: int, *, what: str) -> None:
    """Tenders add up to the total; only cash takes more and gives change."""
    paid = sum(t.amount for t in tenders)
    if paid != total:
        step.breach(
            "tenders_mismatch",
            f"the tenders add up to {paid}, the {what} is {total}",
            paid=paid,
            total=total,
        )
    for tender in tenders:
        if tender.tendered is not None and tender.kind != "cash":
            step.breach("bad_tender", f"only cash is tendered with change, not {tender.kind}")
        if tender.tendered is not None and tender.tendered < tender.amount:
            step.breach("bad_tender", "cash tendered is less than the amount it pays")
        if tender.kind in ("card", "gift_card", "store_credit") and not tender.reference:
            step.breach("bad_tender", f"a {tender.kind} tender needs its reference")


def apply_sale(step: Apply) -> None:
    """sale.completed: check prices, approvals, totals and tenders; project; move stock."""
    sale: SaleCompleted = step.body
    rt = step.rt
    step.actor()
    check_receipt_number(step, sale.receipt)
    step.open_shift(sale.shift)
    if sale.currency != rt.settings.currency:
        step.breach("wrong_currency", f"this store sells in {rt.settings.currency}")
    numbers = unique_line_numbers(step, [line.line for line in sale.lines])
    facts = variant_facts(rt, [line.variant for line in sale.lines], sale.catalog_version)
    try:
        totals = price(rt, sale, facts)
    except ValueError as exc:
        # Never a 500 (and never a replay that can never be applied): refuse live, or keep
        # the sale priced with the discount capped at everything, and flag it.
        step.breach("bad_discount", f"an impossible discount: {exc}")
        totals = price(rt, sale, facts, capped=True)
    threshold = rt.settings.discount_threshold_bp
    for line, result in zip(sale.lines, totals.lines, strict=True):
        known = facts[line.variant]
        if known is None:
            step.breach(
                "unknown_variant", f"line {line.line}: no variant {line.variant}", line=line.line
            )
            continue
        if line.voided:
            continue
        if known.list_price is None:
            step.breach(
                "unknown_price",
                f"line {line.line}: {known.sku} was not in catalog version {sale.catalog_version}",
                line=line.line,
            )
        elif line.unit_price != known.list_price:
            step.authorize(
                Action.PRICE_OVERRIDE, amount=line.unit_price, approval=line.price_approval
            )
        if (
            result.line_discount
            and _share_bp(line.discount, result.line_discount, result.gross) > threshold
        ):
            step.authorize(
                Action.DISCOUNT_OVER_THRESHOLD,
                amount=result.line_discount,
                approval=line.discount.approval if line.discount else None,
            )
    order_discount = sum(r.order_discount for r in totals.lines)
    if order_discount:
        base = sum(r.gross - r.line_discount for r in totals.lines)
        if _share_bp(sale.order_discount, order_discount, base) > threshold:
            step.authorize(
                Action.DISCOUNT_OVER_THRESHOLD,
                amount=order_discount,
                approval=sale.order_discount.approval if sale.order_discount else None,
            )
    expected = {
        "subtotal": totals.subtotal,
        "discount": totals.discount,
        "tax": totals.tax,
        "total": totals.total,
    }
    given = {
        "subtotal": sale.totals.subtotal,
        "discount": sale.totals.discount,
        "tax": sale.totals.tax,
        "total": sale.totals.total,
    }
    if expected != given:
        step.breach(
            "totals_mismatch",
            f"the totals should be {expected}, the register sent {given}",
            expected=expected,
        )
    check_tenders(step, sale.tenders, totals.total, what="sale total")
    if any(t.kind in BALANCE_KINDS for t in sale.tenders):
        check_sale_tenders(step, sale.tenders)
    exchange_credit = sum(t.amount for t in sale.tenders if t.kind == "exchange")
    if sale.exchange_of is not None or exchange_credit:
        _check_exchange(step, sale, exchange_credit)

    rt.db.execute(
        "INSERT INTO sale (id, receipt, register, shift, actor, at, catalog_version, currency,"
        " subtotal, discount, tax, total, exchange_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            step.env.id,
            sale.receipt,
            step.env.origin,
            sale.shift,
            step.env.actor,
            step.env.at,
            sale.catalog_version,
            sale.currency,
            totals.subtotal,
            totals.discount,
            totals.tax,
            totals.total,
            sale.exchange_of,
        ),
    )
    for line, result, number in zip(sale.lines, totals.lines, numbers, strict=True):
        known = facts[line.variant]
        rt.db.execute(
            "INSERT INTO sale_line (sale, line, variant, qty, qty_scale, unit_price, list_price,"
            " gross, line_discount, order_discount, net, tax, total, tax_rate_ppm, voided)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                step.env.id,
                number,
                line.variant,
                line.qty,
                line.qty_scale,
                line.unit_price,
                known.list_price if known else None,
                result.gross,
                result.line_discount,
                result.order_discount,
                result.net,
                result.tax,
                result.total,
                rt.settings.tax_rate_ppm(known.tax_class) if known else 0,
                int(line.voided),
            ),
        )
        if not line.voided:
            ledger(step, number, line.variant, Movement.SALE, -line.qty)
    pay(step, sale.shift, sale.tenders, sign=1)
    kick_for_cash(step, sale.tenders, "sale")
    flag_negative_after(step)


def _check_exchange(step: Apply, sale: SaleCompleted, credit: int) -> None:
    """The sale half of an exchange takes exactly the credit its return gave."""
    if sale.exchange_of is None:
        step.breach("bad_tender", "an exchange tender needs the return it comes from")
        return
    pending = step.batch.exchanges.get(sale.exchange_of)
    if pending is None:
        row = step.rt.db.one(
            "SELECT exchange, (SELECT COALESCE(-SUM(amount), 0) FROM payment p"
            "  WHERE p.event = r.id AND p.kind = 'exchange') AS credit"
            " FROM return_doc r WHERE id = ?",
            (sale.exchange_of,),
        )
        if row is None:
            step.breach("exchange_incomplete", f"no return {sale.exchange_of} to exchange against")
            return
        pending = {"sale": row["exchange"], "credit": row["credit"]}
    if pending["sale"] != step.env.id:
        step.breach("exchange_mismatch", f"return {sale.exchange_of} is exchanged for another sale")
    if pending["credit"] != credit:
        step.breach(
            "exchange_mismatch",
            f"the return credits {pending['credit']}, the sale takes {credit}",
        )
    pending["sale_seen"] = True


def apply_void(step: Apply) -> None:
    """sale.voided (post-void): same shift, no returns yet, a supervisor's approval."""
    void: SaleVoided = step.body
    rt = step.rt
    sale = rt.db.one("SELECT * FROM sale WHERE id = ?", (void.sale,))
    if sale is None:
        step.breach("unknown_sale", f"no sale {void.sale}")
        step.actor()
        return
    if sale["receipt"] != void.receipt:
        step.breach("wrong_receipt", f"sale {void.sale} is receipt {sale['receipt']}")
    if rt.db.scalar("SELECT 1 FROM sale_void WHERE sale = ?", (void.sale,)):
        step.breach("already_voided", f"receipt {sale['receipt']} is already voided")
        return
    if rt.db.scalar("SELECT 1 FROM return_line WHERE original_sale = ?", (void.sale,)):
        step.breach("already_returned", "items of this sale were returned; it cannot be voided")
    if sale["register"] != step.env.origin or not step.open_shift(sale["shift"]):
        step.breach("void_elsewhere", "a post-void is for this register's open shift; use a return")
    step.authorize(Action.POST_VOID, amount=sale["total"])
    rt.db.execute(
        "INSERT INTO sale_void (sale, event, shift, at, actor, reason) VALUES (?, ?, ?, ?, ?, ?)",
        (void.sale, step.env.id, sale["shift"], step.env.at, step.env.actor, void.reason),
    )
    # The money goes back the way it came, in the same shift.
    for index, payment in enumerate(
        rt.db.query("SELECT * FROM payment WHERE event = ? ORDER BY idx", (void.sale,))
    ):
        rt.db.execute(
            "INSERT INTO payment (event, idx, shift, kind, amount, reference) VALUES (?, ?, ?, ?, ?, ?)",
            (
                step.env.id,
                index,
                sale["shift"],
                payment["kind"],
                -payment["amount"],
                payment["reference"],
            ),
        )
    for line in rt.db.query(
        "SELECT line, variant, qty FROM sale_line WHERE sale = ? AND voided = 0", (void.sale,)
    ):
        ledger(step, line["line"], line["variant"], Movement.VOID, line["qty"])


def apply_receipt_requested(step: Apply) -> None:
    """receipt.requested: the receipt must exist (sending is the hardware issue's queue)."""
    request: ReceiptRequested = step.body
    if not receipt_taken(step.rt, request.receipt):
        step.breach("unknown_receipt", f"no receipt {request.receipt}")
    from appliance.receipts.sending import address_problem, normal_address

    problem = address_problem(request.channel, request.to)
    if request.channel in ("email", "sms") and problem is not None:
        step.breach("address_required" if not request.to else "bad_address", problem)
    elif request.channel in ("email", "sms") and request.to:
        # Kept until sent, across outages and restarts; sent late is still useful.
        from appliance.receipts.delivery import queue_message

        queue_message(
            step.rt,
            event=step.env.id,
            channel=request.channel,
            address=normal_address(request.channel, request.to),
            receipt=request.receipt,
            gift=request.gift,
        )
    if request.channel == "print" and step.live:
        # Printed after the commit by the print worker; a replayed request (the register was
        # cut off from the appliance) is not printed late, for a customer long gone.
        print_receipt(step, request)


def print_receipt(step: Apply, request: ReceiptRequested) -> None:
    """Queue the paper receipt on the register's printer: a reprint if one was printed."""
    from appliance.devices.print_queue import enqueue

    kind = "gift" if request.gift else "receipt"
    if kind == "receipt" and step.rt.db.scalar(
        "SELECT EXISTS (SELECT 1 FROM print_job WHERE ref = ?"
        " AND kind IN ('receipt', 'gift', 'reprint') AND state != 'cancelled')",
        (request.receipt,),
    ):
        kind = "reprint"
    enqueue(
        step.rt,
        register=step.env.origin,
        kind=kind,
        ref=request.receipt,
        event=step.env.id,
        staff=step.env.actor,
    )


def kick_for_cash(step: Apply, tenders: Any, reason: str) -> None:
    """A live event that takes or gives cash opens the drawer (never any other tender)."""
    if step.live and any(t.kind == "cash" for t in tenders):
        from appliance.devices.print_queue import kick_drawer

        kick_drawer(
            step.rt, step.env.origin, event=step.env.id, staff=step.env.actor, reason=reason
        )


def receipt(rt: Runtime, number: str) -> dict[str, Any]:
    """A sale by receipt number, with what has been returned of each line and each tender."""
    sale = rt.db.one("SELECT * FROM sale WHERE receipt = ? ORDER BY at LIMIT 1", (number,))
    if sale is None:
        raise NotFound(f"no sale with receipt {number}", code="unknown_receipt")
    void = rt.db.one("SELECT event, at, reason FROM sale_void WHERE sale = ?", (sale["id"],))
    lines = []
    for row in rt.db.query(
        "SELECT l.*, f.doc ->> '$.title' AS title, f.doc ->> '$.sku' AS sku,"
        " (SELECT COALESCE(SUM(r.qty), 0) FROM return_line r"
        "  WHERE r.original_sale = l.sale AND r.original_line = l.line) AS returned,"
        " (SELECT COALESCE(SUM(r.refund), 0) FROM return_line r"
        "  WHERE r.original_sale = l.sale AND r.original_line = l.line) AS refunded"
        " FROM sale_line l LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = l.variant"
        " WHERE l.sale = ? ORDER BY l.line",
        (sale["id"],),
    ):
        lines.append(
            {
                "line": row["line"],
                "variant": row["variant"],
                "sku": row["sku"],
                "title": row["title"],
                "qty": row["qty"],
                "qty_scale": row["qty_scale"],
                "unit_price": row["unit_price"],
                "gross": row["gross"],
                "discount": row["line_discount"] + row["order_discount"],
                "tax": row["tax"],
                "total": row["total"],
                "tax_rate_ppm": row["tax_rate_ppm"],
                "voided": bool(row["voided"]),
                "returned": row["returned"],
                # Replayed offline returns may have taken back more than was sold (kept,
                # flagged over_return): nothing is left, never a negative quantity.
                "returnable": 0 if row["voided"] or void else max(0, row["qty"] - row["returned"]),
                "refunded": row["refunded"],
            }
        )
    tenders = [
        {
            "kind": row["kind"],
            "paid": row["paid"],
            "refunded": row["refunded"],
            "reference": row["reference"],
        }
        for row in rt.db.query(
            "SELECT kind, SUM(amount) AS paid, MAX(reference) AS reference,"
            " (SELECT COALESCE(-SUM(p2.amount), 0) FROM payment p2 JOIN return_doc r"
            "   ON r.id = p2.event WHERE r.original_sale = ? AND p2.kind = p.kind) AS refunded"
            " FROM payment p WHERE event = ? GROUP BY kind ORDER BY MIN(idx)",
            (sale["id"], sale["id"]),
        )
    ]
    return {
        "id": sale["id"],
        "receipt": sale["receipt"],
        "register": sale["register"],
        "shift": sale["shift"],
        "actor": sale["actor"],
        "at": sale["at"],
        "currency": sale["currency"],
        "catalog_version": sale["catalog_version"],
        "subtotal": sale["subtotal"],
        "discount": sale["discount"],
        "tax": sale["tax"],
        "total": sale["total"],
        "voided": void is not None,
        "void": None if void is None else dict(void),
        "lines": lines,
        "tenders": tenders,
        "store": rt.store,
    }
