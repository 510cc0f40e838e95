"""Returns and exchanges: caps against what was sold, refunds to the original tender, reasons."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from appliance import chain_returns
from appliance.selling import (
    check_receipt_number,
    check_tenders,
    kick_for_cash,
    pay,
    unique_line_numbers,
)
from appliance.stock import ledger
from protocol.bodies import ReturnCompleted
from protocol.money import Rounding, round_fraction
from protocol.permissions import Action
from protocol.pricing import PPM, LineResult, refund_for
from protocol.stock import Movement

if TYPE_CHECKING:
    from appliance.push import Apply


def tax_in(amount: int, rate_ppm: int) -> int:
    """The tax contained in an amount that includes it (what a refund gives back)."""
    return round_fraction(Fraction(amount * rate_ppm, PPM + rate_ppm), Rounding.HALF_UP)


def apply_return(step: Apply) -> None:
    """return.completed: with a receipt (capped by what is left) or without (an override)."""
    ret: ReturnCompleted = step.body
    rt = step.rt
    step.actor()
    check_receipt_number(step, ret.receipt)
    step.open_shift(ret.shift)
    reasons = {
        row["code"]: row["disposition"]
        for row in rt.db.query(
            "SELECT code, disposition FROM reason_code WHERE kind = 'return' AND active = 1"
        )
    }
    original = None
    # Another store's sale, as looked up from the cloud before this return (§43).
    foreign = None
    if ret.original is not None and chain_returns.is_foreign(rt, ret.original):
        foreign = chain_returns.kept_sale(step, ret.original)
    elif ret.original is not None:
        original = rt.db.one(
            "SELECT s.*, (SELECT 1 FROM sale_void v WHERE v.sale = s.id) AS voided"
            " FROM sale s WHERE receipt = ? ORDER BY at LIMIT 1",
            (ret.original,),
        )
        if original is None:
            step.breach(
                "unknown_receipt", f"no sale with receipt {ret.original}", receipt=ret.original
            )
        elif original["voided"]:
            step.breach("voided_sale", f"receipt {ret.original} was voided")
    if ret.original is None:
        step.authorize(Action.RETURN_WITHOUT_RECEIPT, amount=ret.totals.total)
        allowed = {*rt.settings.no_receipt_refunds, "exchange"}
        for tender in ret.tenders:
            if tender.kind not in allowed:
                step.breach(
                    "refund_tender",
                    f"without a receipt the refund is {' or '.join(sorted(rt.settings.no_receipt_refunds))}",
                )

    rows: list[dict[str, Any]] = []
    counted: dict[int, int] = {}
    numbers = unique_line_numbers(step, [line.line for line in ret.lines])
    for line, number in zip(ret.lines, numbers, strict=True):
        disposition = reasons.get(line.reason)
        if disposition is None:
            step.breach("unknown_reason", f"line {line.line}: no return reason {line.reason}")
            disposition = "damaged"
        rate = None
        if line.original_line is None and (foreign is not None or original is not None):
            step.breach("original_line_required", f"line {line.line}: which line of the receipt?")
        elif foreign is not None:
            # Another store's sale: what the other stores returned comes with it from the cloud.
            sold = next((s for s in foreign["lines"] if s["line"] == line.original_line), None)
            elsewhere = 0 if sold is None else int(sold["returned_elsewhere"])
            rate = check_against_sold(
                step, line, sold, counted, returned_elsewhere=elsewhere, sale_id=foreign["id"]
            )
        elif original is not None:
            sold = step.rt.db.one(
                "SELECT * FROM sale_line WHERE sale = ? AND line = ?",
                (original["id"], line.original_line),
            )
            rate = check_against_sold(
                step, line, sold, counted, returned_elsewhere=0, sale_id=original["id"]
            )
        else:
            rate = _check_unreceipted_line(step, line)
        rows.append({"line": line, "number": number, "disposition": disposition, "rate": rate})
    refund = sum(line.refund for line in ret.lines)
    tax = sum(line.tax for line in ret.lines)
    if (refund, tax) != (ret.totals.total, ret.totals.tax):
        step.breach(
            "totals_mismatch",
            f"the lines refund {refund} with {tax} tax; the totals say {ret.totals.total} with {ret.totals.tax}",
        )
    check_tenders(step, ret.tenders, ret.totals.total, what="refund")
    if foreign is not None:
        _check_refund_tenders(step, chain_returns.refundable(step.rt, foreign), ret)
    elif original is not None:
        _check_refund_tenders(step, _refundable(step, original["id"]), ret)
    credit = sum(t.amount for t in ret.tenders if t.kind == "exchange")
    if ret.exchange is not None:
        if not credit:
            step.breach(
                "exchange_mismatch", "an exchange moves the refund with an `exchange` tender"
            )
        step.batch.exchanges[step.env.id] = {"sale": ret.exchange, "credit": credit}
    elif credit:
        step.breach("exchange_mismatch", "an `exchange` tender needs the sale it goes to")

    original_id = foreign["id"] if foreign is not None else original["id"] if original else None
    rt.db.execute(
        "INSERT INTO return_doc (id, receipt, register, shift, actor, at, original_sale, total, tax,"
        " exchange) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            step.env.id,
            ret.receipt,
            step.env.origin,
            ret.shift,
            step.env.actor,
            step.env.at,
            original_id,
            ret.totals.total,
            ret.totals.tax,
            ret.exchange,
        ),
    )
    for row in rows:
        line = row["line"]
        rt.db.execute(
            "INSERT INTO return_line (return_id, line, original_sale, original_line, variant, qty,"
            " qty_scale, refund, tax, tax_rate_ppm, reason, disposition)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                step.env.id,
                row["number"],
                original_id,
                line.original_line,
                line.variant,
                line.qty,
                line.qty_scale,
                line.refund,
                line.tax,
                row["rate"],
                line.reason,
                row["disposition"],
            ),
        )
        # Only goods fit to sell again go back on hand; damaged and return-to-vendor do not.
        if row["disposition"] == "restock":
            ledger(step, row["number"], line.variant, Movement.RETURN, line.qty, line.reason)
    pay(step, ret.shift, ret.tenders, sign=-1)
    kick_for_cash(step, ret.tenders, "refund")


def check_against_sold(
    step: Apply,
    line: Any,
    sold: Any,
    counted: dict[int, int],
    *,
    returned_elsewhere: int,
    sale_id: str,
) -> int | None:
    """A returned line against the sold line it names (a `sale_line` row here, or the same
    fields of another store's sale): the same item in the same unit, never more than is left
    (sold, less `returned_elsewhere` in other stores, less what this store returned, less
    what earlier lines of this return take), refunded as it was paid. The line's tax rate,
    or None when the receipt has no such line."""
    if sold is None or sold["voided"]:
        step.breach(
            "unknown_line", f"line {line.line}: the receipt has no line {line.original_line}"
        )
        return None
    if sold["variant"] != line.variant:
        step.breach(
            "wrong_variant", f"line {line.line}: receipt line {line.original_line} is another item"
        )
    if sold["qty_scale"] != line.qty_scale:
        # Quantities are compared and refunded in the sold line's unit (milli-units or not).
        step.breach(
            "wrong_unit",
            f"line {line.line}: receipt line {line.original_line} was sold with qty_scale"
            f" {sold['qty_scale']}, not {line.qty_scale}",
            line=line.line,
        )
    before = counted.get(line.original_line)
    if before is None:
        here = step.rt.db.scalar(
            "SELECT COALESCE(SUM(qty), 0) FROM return_line"
            " WHERE original_sale = ? AND original_line = ?",
            (sale_id, line.original_line),
        )
        before = returned_elsewhere + int(here)
    counted[line.original_line] = before + line.qty
    left = sold["qty"] - before
    if line.qty > left:
        step.breach(
            "over_return",
            f"line {line.line}: {sold['qty']} sold, {before} already returned, {left} left to return",
            line=line.line,
            sold=sold["qty"],
            returned=before,
        )
        return int(sold["tax_rate_ppm"])
    paid = LineResult(
        gross=sold["gross"],
        line_discount=sold["line_discount"],
        order_discount=sold["order_discount"],
        net=sold["net"],
        tax=sold["tax"],
        total=sold["total"],
    )
    total, tax = refund_for(paid, sold_qty=sold["qty"], returned_before=before, returning=line.qty)
    if (line.refund, line.tax) != (total, tax):
        step.breach(
            "refund_mismatch",
            f"line {line.line}: refund {total} with {tax} tax, not {line.refund} with {line.tax}",
            line=line.line,
            refund=total,
            tax=tax,
        )
    return int(sold["tax_rate_ppm"])


def _check_unreceipted_line(step: Apply, line: Any) -> int | None:
    """Without a receipt: never more than today's price; tax is what that amount contains."""
    row = step.rt.db.one("SELECT price, tax_class FROM variant WHERE uid = ?", (line.variant,))
    if row is None:
        step.breach("unknown_variant", f"line {line.line}: no variant {line.variant}")
        return None
    rate = step.rt.settings.tax_rate_ppm(row["tax_class"])
    gross = round_fraction(Fraction(line.qty * row["price"], line.qty_scale), Rounding.HALF_UP)
    top = (
        gross
        if step.rt.settings.tax_mode == "inclusive"
        else gross + round_fraction(Fraction(gross * rate, PPM), Rounding.HALF_UP)
    )
    if line.refund > top:
        step.breach(
            "refund_too_large",
            f"line {line.line}: at most {top} back for this item without a receipt",
            line=line.line,
        )
    if line.tax != tax_in(line.refund, rate):
        step.breach(
            "refund_mismatch",
            f"line {line.line}: {line.refund} back contains {tax_in(line.refund, rate)} tax",
            line=line.line,
        )
    return rate


def _refundable(step: Apply, sale_id: str) -> dict[str, int]:
    """What may still go back to each tender kind of this store's sale: paid, less refunded
    (refunds are stored as negative payments)."""
    return {
        row["kind"]: row["paid"] + row["refunded"]
        for row in step.rt.db.query(
            "SELECT kind, SUM(amount) AS paid,"
            " (SELECT COALESCE(SUM(p2.amount), 0) FROM payment p2 JOIN return_doc r ON r.id = p2.event"
            "  WHERE r.original_sale = ? AND p2.kind = p.kind) AS refunded"
            " FROM payment p WHERE event = ? GROUP BY kind",
            (sale_id, sale_id),
        )
    }


def _check_refund_tenders(step: Apply, left: dict[str, int], ret: ReturnCompleted) -> None:
    """The refund goes back the way the sale was paid (or as store credit, or an exchange),
    never more per tender kind than `left` (what was paid and not yet refunded)."""
    left = dict(left)
    for tender in ret.tenders:
        if tender.kind in ("store_credit", "exchange"):
            continue
        available = left.get(tender.kind, 0)
        if tender.amount > available:
            step.breach(
                "refund_tender",
                f"at most {available} can go back to {tender.kind} for this receipt",
                kind=tender.kind,
                available=available,
            )
        left[tender.kind] = available - tender.amount
