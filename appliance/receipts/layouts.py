"""The store's printed documents, laid out once: sale receipts (also gift receipts and
reprints), X and Z reports, and the printer test page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.errors import NotFound
from appliance.receipts.document import (
    Align,
    Barcode,
    Builder,
    Columns,
    Document,
    Feed,
    Rule,
    Text,
)
from appliance.runtime import Runtime
from protocol.money import exponent

TENDER_NAMES = {
    "cash": "Cash",
    "card": "Card",
    "store_credit": "Store credit",
    "gift_card": "Gift card",
}
# Locales that write 1.234,56 rather than 1,234.56.
_COMMA_DECIMAL = ("de", "fr", "es", "it", "nl", "pt", "da", "fi", "sv", "nb", "pl", "cs", "at")


def money(amount: int, currency: str, locale: str = "en-IE") -> str:
    """An amount in minor units as the store writes it: 1,234.56 or 1.234,56."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    comma = locale.split("-")[0].lower() in _COMMA_DECIMAL
    grouped = f"{whole:,}".replace(",", "." if comma else ",")
    if digits == 0:
        return sign + grouped
    return f"{sign}{grouped}{',' if comma else '.'}{part:0{digits}d}"


def local_time(at: str | None, timezone: str) -> str:
    """An event's UTC time (`2026-11-26T07:49:12.345Z`) as the store's local `2026-11-26 08:49`."""
    if not at:
        return ""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def _rate(ppm: int) -> str:
    percent = ppm / 10_000
    return f"{percent:g}%"


def _qty(qty: int, scale: int) -> str:
    if scale <= 1:
        return str(qty)
    return f"{qty / scale:g}"


@dataclass(frozen=True, slots=True)
class _Tender:
    kind: str
    amount: int
    reference: str | None
    tendered: int | None
    change: int | None


def _header(b: Builder, rt: Runtime) -> None:
    s = rt.settings
    b.add(Text(s.store_name or rt.store, Align.CENTER, bold=True, big=True))
    for line in s.receipt_header.splitlines():
        b.add(Text(line, Align.CENTER))
    b.add(Feed())


def sale_receipt(
    rt: Runtime, number: str, *, gift: bool = False, reprint: bool = False
) -> Document:
    """The customer's receipt for sale `number` (a gift receipt has no prices)."""
    db, s = rt.db, rt.settings
    sale = db.one(
        "SELECT s.*, r.name AS register_name, st.name AS staff_name FROM sale s"
        " LEFT JOIN register r ON r.id = s.register LEFT JOIN staff st ON st.id = s.actor"
        " WHERE s.receipt = ? ORDER BY s.at LIMIT 1",
        (number,),
    )
    if sale is None:
        raise NotFound(f"no sale with receipt {number}", code="unknown_receipt")
    voided = db.one("SELECT at FROM sale_void WHERE sale = ?", (sale["id"],)) is not None
    lines = db.query(
        "SELECT l.*, f.doc ->> '$.title' AS title FROM sale_line l"
        " LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = l.variant"
        " WHERE l.sale = ? ORDER BY l.line",
        (sale["id"],),
    )
    tenders = [
        _Tender(r["kind"], r["amount"], r["reference"], r["tendered"], r["change"])
        for r in db.query(
            "SELECT kind, amount, reference, tendered, change FROM payment"
            " WHERE event = ? ORDER BY idx",
            (sale["id"],),
        )
    ]
    currency = sale["currency"]

    def m(amount: int) -> str:
        return money(amount, currency, s.locale)

    b = Builder(width=s.printer_width)
    if reprint:
        b.add(Text("*** REPRINT ***", Align.CENTER, bold=True))
    _header(b, rt)
    if gift:
        b.add(Text("GIFT RECEIPT", Align.CENTER, bold=True, big=True), Feed())
    if voided:
        b.add(Text("*** VOIDED ***", Align.CENTER, bold=True, big=True), Feed())
    b.add(
        Columns(f"Receipt {sale['receipt']}", local_time(sale["at"], s.timezone)),
        Text(f"Till: {sale['register_name'] or sale['register']}"),
    )
    if sale["staff_name"]:
        b.add(Text(f"Served by {sale['staff_name']}"))
    b.add(Rule())
    for line in lines:
        title = line["title"] or line["variant"]
        qty = _qty(line["qty"], line["qty_scale"])
        if line["voided"]:
            b.add(Text(f"{title} (void)"))
            continue
        if gift:
            b.add(Columns(title, f"x {qty}"))
            continue
        b.add(Text(title))
        b.add(Columns(f"  {qty} x {m(line['unit_price'])}", m(line["gross"])))
        if line["line_discount"]:
            b.add(Columns("  Discount", m(-line["line_discount"])))
    b.add(Rule())
    if not gift:
        if sale["discount"]:
            b.add(
                Columns("Subtotal", m(sale["subtotal"])), Columns("Discount", m(-sale["discount"]))
            )
        if s.tax_mode == "exclusive":
            b.add(Columns("Tax", m(sale["tax"])))
        b.add(Text(f"TOTAL {currency} {m(sale['total'])}", Align.RIGHT, bold=True, big=True))
        b.add(Rule())
        for tender in tenders:
            name = TENDER_NAMES.get(tender.kind, tender.kind)
            b.add(Columns(name, m(tender.amount)))
            if tender.tendered is not None and tender.tendered != tender.amount:
                b.add(Columns("  Tendered", m(tender.tendered)))
            if tender.change:
                b.add(Columns("  Change", m(tender.change), bold=True))
            if tender.reference and tender.kind != "cash":
                b.add(Text(f"  Ref {tender.reference}"))
        b.add(Rule())
        by_rate: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for line in lines:
            if not line["voided"]:
                # A line's total includes its tax (either tax mode); net is what is left.
                by_rate[line["tax_rate_ppm"]][0] += line["total"] - line["tax"]
                by_rate[line["tax_rate_ppm"]][1] += line["tax"]
        b.add(Columns("Tax rate        net", "tax"))
        for ppm, (net, tax) in sorted(by_rate.items(), reverse=True):
            b.add(Columns(f"{_rate(ppm):<8}{m(net):>11}", m(tax)))
        b.add(Rule())
    else:
        b.add(Text("Exchange or refund with this receipt.", Align.CENTER))
    b.add(Feed(), Barcode(sale["receipt"]), Feed())
    for text in s.receipt_footer.splitlines():
        b.add(Text(text, Align.CENTER))
    if reprint:
        b.add(Feed(), Text("*** REPRINT ***", Align.CENTER, bold=True))
    kind = "Gift receipt" if gift else "Reprint" if reprint else "Receipt"
    return b.build(title=f"{kind} {number}")


def shift_report_document(rt: Runtime, report: dict[str, Any]) -> Document:
    """An X or Z report (as `appliance.shifts.report` makes it) for the printer."""
    s = rt.settings
    currency = report.get("currency") or s.currency

    def m(amount: int) -> str:
        return money(amount, currency, s.locale)

    def when(value: str | None) -> str:
        return local_time(value, s.timezone)

    b = Builder(width=s.printer_width)
    _header(b, rt)
    z = report["kind"] == "z"
    title = f"Z REPORT No. {report['number']}" if z else "X REPORT"
    b.add(Text(title, Align.CENTER, bold=True, big=True))
    if not z:
        b.add(Text("mid-shift, not a close", Align.CENTER))
    b.add(Feed(), Columns("Till", report["register"]), Columns("Opened", when(report["opened_at"])))
    if report.get("closed_at"):
        b.add(Columns("Closed", when(report["closed_at"])))
    b.add(Rule())
    sales, voids, returns = report["sales"], report["voids"], report["returns"]
    b.add(
        Columns(f"Sales ({sales['count']})", m(sales["total"])),
        Columns("  of which discounts", m(-sales["discounts"])),
        Columns(f"Post-voids ({voids['count']})", m(-voids["total"])),
        Columns(f"Returns ({returns['count']})", m(-returns["total"])),
        Columns("NET SALES", m(report["net_sales"]), bold=True),
        Rule(),
        Columns("Tax rate           sales", "tax"),
    )
    for tax in report["taxes"]:
        b.add(Columns(f"{_rate(tax['rate_ppm']):<8}{m(tax['sales']):>15}", m(tax["tax"])))
    b.add(Columns("Tax total", m(report["net_tax"]), bold=True), Rule())
    b.add(Columns("Tender          expected", "counted  +/-" if z else ""))
    for tender in report["tenders"]:
        name = TENDER_NAMES.get(tender["kind"], tender["kind"])
        right = m(tender["expected"])
        if z and tender.get("counted") is not None:
            right = f"{m(tender['counted'])} {m(tender['difference'])}"
            name = f"{name:<14}{m(tender['expected']):>10}"
        b.add(Columns(name, right))
    cash = report["cash"]
    b.add(
        Rule(),
        Text("Cash drawer", bold=True),
        Columns("Float", m(cash["float"])),
        Columns("Cash taken", m(cash["taken"])),
        Columns("Cash refunded", m(-cash["paid_out"])),
        Columns("Pay-ins", m(cash["pay_ins"])),
        Columns("Pay-outs", m(-cash["pay_outs"])),
        Columns("Expected in drawer", m(cash["expected"]), bold=True),
    )
    if cash.get("counted") is not None:
        b.add(
            Columns("Counted", m(cash["counted"])),
            Columns("Over (+) / short (-)", m(cash["over_short"]), bold=True),
        )
    b.add(
        Rule(),
        Columns("No-sales", str(report["no_sales"])),
        Columns("Line voids", str(report["line_voids"])),
        Columns("Overrides", str(report["overrides"])),
        Feed(),
        Text(f"Printed {when(report.get('printed_at'))}", Align.CENTER),
    )
    return b.build(title=title)


def printer_test_page(rt: Runtime) -> Document:
    """What a test print shows: the store, the width, the characters, a barcode."""
    s = rt.settings
    b = Builder(width=s.printer_width)
    _header(b, rt)
    b.add(Text("PRINTER TEST", Align.CENTER, bold=True, big=True), Feed())
    b.add(Text(("1234567890" * 10)[: s.printer_width]))
    b.add(Text("Normal text"), Text("Bold text", bold=True), Text("Centered", Align.CENTER))
    b.add(Text("Right", Align.RIGHT), Text("Big", big=True))
    b.add(Columns("A label", money(123456, s.currency, s.locale)))
    b.add(Text("Accents: é ü ñ ø — €"))
    b.add(Rule(), Barcode(f"{rt.store}-TEST"), Feed())
    b.add(Text(f"Profile {s.printer_profile}, {s.printer_width} columns", Align.CENTER))
    return b.build(title="Test page")
