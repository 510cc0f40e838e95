"""The store's printed documents, laid out once: sale receipts (also gift receipts and
reprints), X and Z reports, and the printer test page."""

from __future__ import annotations

from typing import Any

from appliance.errors import NotFound
from appliance.receipts.document import Align, Barcode, Builder, Columns, Document, Feed, Rule, Text
from appliance.receipts.sale import (
    TENDER_NAMES,
    ReceiptLine,
    ReceiptStore,
    ReceiptTender,
    SaleReceipt,
    header,
    local_time,
    money,
    rate_text,
    sale_document,
)
from appliance.runtime import Runtime

__all__ = [
    "TENDER_NAMES",
    "local_time",
    "money",
    "printer_test_page",
    "receipt_store",
    "sale_receipt",
    "shift_report_document",
]


def receipt_store(rt: Runtime) -> ReceiptStore:
    """The store as its receipts show it, from its settings."""
    s = rt.settings
    return ReceiptStore(
        name=s.store_name or rt.store,
        header=s.receipt_header,
        footer=s.receipt_footer,
        locale=s.locale,
        timezone=s.timezone,
        tax_mode=s.tax_mode,
        width=s.printer_width,
    )


def sale_receipt(
    rt: Runtime, number: str, *, gift: bool = False, reprint: bool = False
) -> Document:
    """The customer's receipt for sale `number` (a gift receipt has no prices)."""
    db = rt.db
    sale = db.one(
        "SELECT s.*, r.name AS register_name, st.name AS staff_name FROM sale s"
        " LEFT JOIN register r ON r.id = s.register LEFT JOIN staff st ON st.id = s.actor"
        " WHERE s.receipt = ? ORDER BY s.at LIMIT 1",
        (number,),
    )
    if sale is None:
        raise NotFound(f"no sale with receipt {number}", code="unknown_receipt")
    voided = db.one("SELECT at FROM sale_void WHERE sale = ?", (sale["id"],)) is not None
    lines = tuple(
        ReceiptLine(
            title=line["title"] or line["variant"],
            qty=line["qty"],
            qty_scale=line["qty_scale"],
            unit_price=line["unit_price"],
            gross=line["gross"],
            line_discount=line["line_discount"],
            total=line["total"],
            tax=line["tax"],
            tax_rate_ppm=line["tax_rate_ppm"],
            voided=bool(line["voided"]),
        )
        for line in db.query(
            "SELECT l.*, f.doc ->> '$.title' AS title FROM sale_line l"
            " LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = l.variant"
            " WHERE l.sale = ? ORDER BY l.line",
            (sale["id"],),
        )
    )
    tenders = tuple(
        ReceiptTender(
            kind=r["kind"],
            amount=r["amount"],
            reference=r["reference"],
            tendered=r["tendered"],
            change=r["change"],
        )
        for r in db.query(
            "SELECT kind, amount, reference, tendered, change FROM payment"
            " WHERE event = ? ORDER BY idx",
            (sale["id"],),
        )
    )
    data = SaleReceipt(
        receipt=sale["receipt"],
        at=sale["at"],
        register=sale["register_name"] or sale["register"],
        staff=sale["staff_name"],
        currency=sale["currency"],
        lines=lines,
        tenders=tenders,
        subtotal=sale["subtotal"],
        discount=sale["discount"],
        tax=sale["tax"],
        total=sale["total"],
        voided=voided,
    )
    return sale_document(receipt_store(rt), data, gift=gift, reprint=reprint)


def shift_report_document(rt: Runtime, report: dict[str, Any]) -> Document:
    """An X or Z report (as `appliance.shifts.report` makes it) for the printer."""
    s = rt.settings
    currency = report.get("currency") or s.currency

    def m(amount: int) -> str:
        return money(amount, currency, s.locale)

    def when(value: str | None) -> str:
        return local_time(value, s.timezone)

    b = Builder(width=s.printer_width)
    header(b, receipt_store(rt))
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
        b.add(Columns(f"{rate_text(tax['rate_ppm']):<8}{m(tax['sales']):>15}", m(tax["tax"])))
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
    header(b, receipt_store(rt))
    b.add(Text("PRINTER TEST", Align.CENTER, bold=True, big=True), Feed())
    b.add(Text(("1234567890" * 10)[: s.printer_width]))
    b.add(Text("Normal text"), Text("Bold text", bold=True), Text("Centered", Align.CENTER))
    b.add(Text("Right", Align.RIGHT), Text("Big", big=True))
    b.add(Columns("A label", money(123456, s.currency, s.locale)))
    b.add(Text("Accents: é ü ñ ø — €"))
    b.add(Rule(), Barcode(f"{rt.store}-TEST"), Feed())
    b.add(Text(f"Profile {s.printer_profile}, {s.printer_width} columns", Align.CENTER))
    return b.build(title="Test page")
