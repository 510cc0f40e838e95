"""A sale's receipt laid out from plain data, with no database behind it.

The appliance fills `SaleReceipt` from its tables (`layouts.sale_receipt`), the cloud from the
`sale.completed` event body and the store's directory (`cloud/receipts.py`); both lay it out
here, so a receipt printed at the till, emailed by the appliance and emailed by the cloud read
the same. Nothing here imports the appliance's runtime or settings: the cloud imports it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.receipts.document import Align, Barcode, Builder, Columns, Document, Feed, Rule, Text
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


def rate_text(ppm: int) -> str:
    """A tax rate in parts per million as a percentage: 200000 → 20%."""
    percent = ppm / 10_000
    return f"{percent:g}%"


def qty_text(qty: int, scale: int) -> str:
    """A quantity as printed: 2, or 1.25 for a weighed item (scale 1000)."""
    if scale <= 1:
        return str(qty)
    return f"{qty / scale:g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptStore:
    """What a receipt shows of the store, and how it writes money and time."""

    name: str
    header: str = ""
    footer: str = ""
    locale: str = "en-IE"
    timezone: str = "Europe/Dublin"
    tax_mode: str = "inclusive"
    width: int = 48


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptLine:
    """One sold line. `total` includes its tax in either tax mode; `tax_rate_ppm` is None when
    the rate is not known (the cloud, for a SKU its catalog lacks)."""

    title: str
    qty: int
    qty_scale: int
    unit_price: int
    gross: int
    line_discount: int
    total: int
    tax: int
    tax_rate_ppm: int | None
    voided: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptTender:
    kind: str
    amount: int
    reference: str | None = None
    tendered: int | None = None
    change: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleReceipt:
    """A sale as its receipt shows it."""

    receipt: str
    at: str
    register: str
    staff: str | None
    currency: str
    lines: tuple[ReceiptLine, ...]
    tenders: tuple[ReceiptTender, ...]
    subtotal: int
    discount: int
    tax: int
    total: int
    voided: bool = False


def sale_document(
    store: ReceiptStore, sale: SaleReceipt, *, gift: bool = False, reprint: bool = False
) -> Document:
    """The customer's receipt (a gift receipt has no prices)."""

    def m(amount: int) -> str:
        return money(amount, sale.currency, store.locale)

    b = Builder(width=store.width)
    if reprint:
        b.add(Text("*** REPRINT ***", Align.CENTER, bold=True))
    header(b, store)
    if gift:
        b.add(Text("GIFT RECEIPT", Align.CENTER, bold=True, big=True), Feed())
    if sale.voided:
        b.add(Text("*** VOIDED ***", Align.CENTER, bold=True, big=True), Feed())
    b.add(
        Columns(f"Receipt {sale.receipt}", local_time(sale.at, store.timezone)),
        Text(f"Till: {sale.register}"),
    )
    if sale.staff:
        b.add(Text(f"Served by {sale.staff}"))
    b.add(Rule())
    for line in sale.lines:
        qty = qty_text(line.qty, line.qty_scale)
        if line.voided:
            b.add(Text(f"{line.title} (void)"))
            continue
        if gift:
            b.add(Columns(line.title, f"x {qty}"))
            continue
        b.add(Text(line.title))
        b.add(Columns(f"  {qty} x {m(line.unit_price)}", m(line.gross)))
        if line.line_discount:
            b.add(Columns("  Discount", m(-line.line_discount)))
    b.add(Rule())
    if not gift:
        _money_part(b, store, sale, m)
    else:
        b.add(Text("Exchange or refund with this receipt.", Align.CENTER))
    b.add(Feed(), Barcode(sale.receipt), Feed())
    for text in store.footer.splitlines():
        b.add(Text(text, Align.CENTER))
    if reprint:
        b.add(Feed(), Text("*** REPRINT ***", Align.CENTER, bold=True))
    kind = "Gift receipt" if gift else "Reprint" if reprint else "Receipt"
    return b.build(title=f"{kind} {sale.receipt}")


def header(b: Builder, store: ReceiptStore) -> None:
    """The store's name, big, and its header lines."""
    b.add(Text(store.name, Align.CENTER, bold=True, big=True))
    for line in store.header.splitlines():
        b.add(Text(line, Align.CENTER))
    b.add(Feed())


def _money_part(
    b: Builder, store: ReceiptStore, sale: SaleReceipt, m: Callable[[int], str]
) -> None:
    if sale.discount:
        b.add(Columns("Subtotal", m(sale.subtotal)), Columns("Discount", m(-sale.discount)))
    if store.tax_mode == "exclusive":
        b.add(Columns("Tax", m(sale.tax)))
    b.add(Text(f"TOTAL {sale.currency} {m(sale.total)}", Align.RIGHT, bold=True, big=True))
    b.add(Rule())
    for tender in sale.tenders:
        name = TENDER_NAMES.get(tender.kind, tender.kind)
        b.add(Columns(name, m(tender.amount)))
        if tender.tendered is not None and tender.tendered != tender.amount:
            b.add(Columns("  Tendered", m(tender.tendered)))
        if tender.change:
            b.add(Columns("  Change", m(tender.change), bold=True))
        if tender.reference and tender.kind != "cash":
            b.add(Text(f"  Ref {tender.reference}"))
    b.add(Rule())
    sold = [line for line in sale.lines if not line.voided]
    if any(line.tax_rate_ppm is None for line in sold):
        # A rate the cloud could not find: the sale's tax as sealed, without the breakdown.
        b.add(Columns("Tax included" if store.tax_mode != "exclusive" else "Tax", m(sale.tax)))
        b.add(Rule())
        return
    by_rate: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for line in sold:
        assert line.tax_rate_ppm is not None
        # A line's total includes its tax (either tax mode); net is what is left.
        by_rate[line.tax_rate_ppm][0] += line.total - line.tax
        by_rate[line.tax_rate_ppm][1] += line.tax
    b.add(Columns("Tax rate        net", "tax"))
    for ppm, (net, tax) in sorted(by_rate.items(), reverse=True):
        b.add(Columns(f"{rate_text(ppm):<8}{m(net):>11}", m(tax)))
    b.add(Rule())
