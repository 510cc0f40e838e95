"""The body of each event type: strict msgspec records, the contract registers and cloud share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from protocol.ids import UUID7_RE
from protocol.money import MAX_AMOUNT

# Patterns are explicit ASCII classes: in Python `\d` also matches other scripts' digits.
RECEIPT_RE = r"^[a-z][a-z0-9]{1,15}-(ap|ap[2-9]|ap[1-9][0-9]|r[0-9]{2,4})-[0-9]{6,9}$"
CODE_RE = r"^[a-z][a-z0-9_]{0,31}$"
STORE_RE = r"^[a-z][a-z0-9]{1,15}$"
DENOMINATION_RE = r"^[1-9][0-9]{0,8}$"
# One line of human text: no control characters or line separators, something visible.
_PLAIN = r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029]"
TEXT_RE = rf"^{_PLAIN}*[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029]{_PLAIN}*$"

Id = Annotated[str, msgspec.Meta(pattern=UUID7_RE)]
Receipt = Annotated[str, msgspec.Meta(pattern=RECEIPT_RE)]
Code = Annotated[str, msgspec.Meta(pattern=CODE_RE)]
Minor = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
Positive = Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]
Quantity = Annotated[int, msgspec.Meta(gt=0, le=10**9)]
Signed = Annotated[int, msgspec.Meta(ge=-(10**9), le=10**9)]
LineNo = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_RE)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=TEXT_RE)]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
BasisPoints = Annotated[int, msgspec.Meta(ge=0, le=10_000)]

TenderKind = Literal["cash", "card", "store_credit", "gift_card", "exchange"]


class Body(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every body refuses unknown fields: a typo is an error, never silently ignored."""


class Discount(Body, frozen=True, kw_only=True):
    """A discount on a line or on the whole sale; `approval` when it is above the threshold."""

    kind: Literal["percent", "amount"]
    value: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
    reason: Text | None = None
    approval: Id | None = None


class SaleLine(Body, frozen=True, kw_only=True):
    """One line of a sale, at the price the register charged."""

    line: LineNo
    variant: Id
    qty: Quantity
    qty_scale: Literal[1, 1000] = 1
    unit_price: Minor
    # Set when unit_price differs from the catalog price at catalog_version.
    price_approval: Id | None = None
    discount: Discount | None = None
    voided: bool = False


class Tender(Body, frozen=True, kw_only=True):
    """One payment (or, on a return, one refund)."""

    kind: TenderKind
    amount: Positive
    # Cash only: what the customer handed over; change = tendered − amount.
    tendered: Minor | None = None
    # Card: the external terminal's reference. Gift card: its number. Store credit: account.
    reference: Reference | None = None


class Totals(Body, frozen=True, kw_only=True):
    """What the register computed; the appliance recomputes and compares."""

    subtotal: Minor
    discount: Minor
    tax: Minor
    total: Minor


class SaleCompleted(Body, frozen=True, kw_only=True):
    """A finished sale: lines, tenders, totals."""

    receipt: Receipt
    shift: Id
    catalog_version: Annotated[int, msgspec.Meta(ge=0)]
    currency: Currency
    lines: Annotated[list[SaleLine], msgspec.Meta(min_length=1, max_length=500)]
    order_discount: Discount | None = None
    tenders: Annotated[list[Tender], msgspec.Meta(min_length=1, max_length=10)]
    totals: Totals
    # The return this sale settles against, when it is the second half of an exchange.
    exchange_of: Id | None = None


class SaleVoided(Body, frozen=True, kw_only=True):
    """A post-void: the whole sale is undone (same shift only; otherwise it is a return)."""

    sale: Id
    receipt: Receipt
    reason: Text


class ReturnLine(Body, frozen=True, kw_only=True):
    """One returned item. `original_line` is null for a return without a receipt."""

    line: LineNo
    original_line: LineNo | None = None
    variant: Id
    qty: Quantity
    qty_scale: Literal[1, 1000] = 1
    refund: Minor
    tax: Minor
    reason: Code


class ReturnTotals(Body, frozen=True, kw_only=True):
    """What is refunded in all, and the tax in it."""

    total: Minor
    tax: Minor


class ReturnCompleted(Body, frozen=True, kw_only=True):
    """Goods back: with the original receipt, or without one (needs an override)."""

    receipt: Receipt
    shift: Id
    original: Receipt | None = None
    lines: Annotated[list[ReturnLine], msgspec.Meta(min_length=1, max_length=500)]
    tenders: Annotated[list[Tender], msgspec.Meta(min_length=1, max_length=10)]
    totals: ReturnTotals
    # The sale that takes this refund as an `exchange` tender.
    exchange: Id | None = None


class CashCount(Body, frozen=True, kw_only=True):
    """Cash counted by denomination (minor units → how many), and the total."""

    counts: dict[
        Annotated[str, msgspec.Meta(pattern=DENOMINATION_RE)],
        Annotated[int, msgspec.Meta(ge=0, le=100_000)],
    ]
    total: Minor


class ShiftOpened(Body, frozen=True, kw_only=True):
    """A cashier opens the register's shift with a counted float."""

    shift: Id
    float: CashCount


class CashMoved(Body, frozen=True, kw_only=True):
    """Money into or out of the drawer, or a drawer opened without a sale."""

    shift: Id
    kind: Literal["pay_in", "pay_out", "no_sale"]
    amount: Minor
    reason: Code
    note: Text | None = None


class ShiftClosed(Body, frozen=True, kw_only=True):
    """A blind close: what was counted, per tender kind; the appliance works out expected."""

    shift: Id
    cash: CashCount
    # Totals of other tenders as counted (card terminal batch, vouchers), by kind.
    counted: dict[TenderKind, Minor] = {}


class ReceivedLine(Body, frozen=True, kw_only=True):
    """Goods received: how many, optionally at what unit cost."""

    variant: Id
    qty: Quantity
    cost: Minor | None = None


class StockReceived(Body, frozen=True, kw_only=True):
    """A delivery booked in."""

    lines: Annotated[list[ReceivedLine], msgspec.Meta(min_length=1, max_length=5000)]
    reference: Reference | None = None
    vendor: Text | None = None


class AdjustLine(Body, frozen=True, kw_only=True):
    """A correction of on-hand with a reason (damaged, theft, found, …)."""

    variant: Id
    qty: Signed
    reason: Code


class StockAdjusted(Body, frozen=True, kw_only=True):
    """Stock corrections."""

    lines: Annotated[list[AdjustLine], msgspec.Meta(min_length=1, max_length=5000)]
    note: Text | None = None


class CountLine(Body, frozen=True, kw_only=True):
    """What was on the shelf."""

    variant: Id
    counted: Annotated[int, msgspec.Meta(ge=0, le=10**9)]


class StockCounted(Body, frozen=True, kw_only=True):
    """A stock count: full or cycle, blind or not. Counts are absolute."""

    count: Id
    scope: Literal["full", "cycle"]
    blind: bool = False
    lines: Annotated[list[CountLine], msgspec.Meta(min_length=1, max_length=100_000)]


class TransferLine(Body, frozen=True, kw_only=True):
    """How many of a variant move between stores."""

    variant: Id
    qty: Quantity


class TransferRequested(Body, frozen=True, kw_only=True):
    """A store asks another for stock."""

    transfer: Id
    from_store: Annotated[str, msgspec.Meta(pattern=STORE_RE)]
    to_store: Annotated[str, msgspec.Meta(pattern=STORE_RE)]
    lines: Annotated[list[TransferLine], msgspec.Meta(min_length=1, max_length=5000)]
    note: Text | None = None


class TransferApproved(Body, frozen=True, kw_only=True):
    """The transfer is agreed."""

    transfer: Id
    note: Text | None = None


class TransferShipped(Body, frozen=True, kw_only=True):
    """Goods leave the sending store (TRANSFER_OUT in its ledger)."""

    transfer: Id
    to_store: Annotated[str, msgspec.Meta(pattern=STORE_RE)]
    lines: Annotated[list[TransferLine], msgspec.Meta(min_length=1, max_length=5000)]


class TransferReceived(Body, frozen=True, kw_only=True):
    """Goods arrive (TRANSFER_IN in the receiving store's ledger); may differ from shipped."""

    transfer: Id
    from_store: Annotated[str, msgspec.Meta(pattern=STORE_RE)]
    lines: Annotated[list[TransferLine], msgspec.Meta(min_length=1, max_length=5000)]
    reason: Text | None = None


class OverrideGranted(Body, frozen=True, kw_only=True):
    """An approval given on the spot (offline ones are made on the register, and flagged)."""

    approval: Id
    action: Code
    amount: Minor | None = None
    currency: Currency | None = None
    requester: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    approver: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    register: (
        Annotated[
            str,
            msgspec.Meta(pattern=r"^[a-z][a-z0-9]{1,15}-(ap|ap[2-9]|ap[1-9][0-9]|r[0-9]{2,4})$"),
        ]
        | None
    ) = None
    reason: Text
    expires_at: str
    offline: bool = False


class ReceiptRequested(Body, frozen=True, kw_only=True):
    """Send or print a receipt: email, SMS or paper."""

    receipt: Receipt
    channel: Literal["print", "email", "sms"]
    to: Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=TEXT_RE)] | None = None
    gift: bool = False


BODY_TYPES: Mapping[str, type[Body]] = {
    "sale.completed": SaleCompleted,
    "sale.voided": SaleVoided,
    "return.completed": ReturnCompleted,
    "shift.opened": ShiftOpened,
    "cash.moved": CashMoved,
    "shift.closed": ShiftClosed,
    "stock.received": StockReceived,
    "stock.adjusted": StockAdjusted,
    "stock.counted": StockCounted,
    "transfer.requested": TransferRequested,
    "transfer.approved": TransferApproved,
    "transfer.shipped": TransferShipped,
    "transfer.received": TransferReceived,
    "override.granted": OverrideGranted,
    "receipt.requested": ReceiptRequested,
}


class BodyError(ValueError):
    """A body that does not fit its event type; `path` says where (e.g. `$.lines[0].qty`)."""

    def __init__(self, event_type: str, message: str, path: str | None) -> None:
        super().__init__(f"{event_type} body: {message}")
        self.event_type = event_type
        self.path = path


def decode_body(event_type: str, body: Mapping[str, Any]) -> Body:
    """The typed body of an event, or BodyError."""
    kind = BODY_TYPES.get(event_type)
    if kind is None:
        raise BodyError(event_type, "unknown event type", None)
    try:
        return msgspec.convert(body, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
        raise BodyError(event_type, text, path) from None


def body_dict(body: Body) -> dict[str, Any]:
    """A body as plain JSON-able data (for sealing an envelope)."""
    data: dict[str, Any] = msgspec.to_builtins(body)
    return data


def body_schemas() -> dict[str, Any]:
    """JSON Schema (2020-12) of every body, keyed by event type, for the PWA to mirror."""
    types = list(BODY_TYPES.values())
    refs, components = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tillbox event bodies",
        "description": "The `body` of each event type. Generated from protocol/bodies.py.",
        "type": "object",
        "properties": dict(zip(BODY_TYPES, refs, strict=True)),
        "$defs": components,
    }
