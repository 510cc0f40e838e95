"""Routes for selling: the event push, receipts, shifts and reports, stock, reasons, review."""

from __future__ import annotations

from typing import Any

from appliance import push, review, shifts, stock
from appliance.api.registry import Call
from appliance.api.schemas import (
    DayQuery,
    FlagList,
    FlagQuery,
    PushBody,
    PushOut,
    ReasonList,
    ReasonOut,
    ReceiptOut,
    ReportQuery,
    ResolveBody,
    ShiftList,
    ShiftOut,
    ShiftQuery,
    StockOut,
    StockQuery,
    StoreOut,
    TaxRateOut,
)
from appliance.api.v1 import api
from appliance.catalog.queries import head
from appliance.chain_returns import foreign_receipt, is_foreign
from appliance.errors import NotFound
from appliance.selling import receipt
from protocol.bodies import RECEIPT_RE
from protocol.cash import denominations
from protocol.ids import UUID7_RE
from protocol.permissions import Role

_RECEIPT_PATH = {"type": "string", "pattern": RECEIPT_RE}
_ID_PATH = {"type": "string", "pattern": UUID7_RE}


@api.route(
    "POST",
    "/events",
    summary="Push events from this register",
    tag="events",
    auth="device",
    body=PushBody,
    response=PushOut,
    errors=(409,),
)
def push_events(call: Call, body: PushBody) -> PushOut:
    """Applies the Replicache rule per origin: seqs already held are skipped (the same event)
    or refused with 409 (a different one); a gap gets 409 with the seq expected; the rest is
    applied in one transaction. Live events come from the logged-in staff member's session
    and are refused with 422 when they break a rule; replayed offline events are kept and
    flagged. Delete from the outbox up to `acked[origin]`."""
    caller = call.device_caller()
    result = push.push(call.rt, caller.register, body.events, mode=body.mode, staff=caller.staff)
    # Committed: receipts and drawer kicks it queued may go now.
    call.rt.print_wake.set()
    return PushOut(
        acked=result.acked,
        flagged=result.flagged,  # type: ignore[arg-type]  # same shape, encoded as JSON
        applied=result.applied,
        duplicates=result.duplicates,
    )


@api.route(
    "GET",
    "/receipts/<number>",
    summary="A sale by receipt number (another store's asked of the cloud)",
    tag="selling",
    auth="device",
    response=ReceiptOut,
    path={"number": _RECEIPT_PATH},
    errors=(404, 422, 502, 503),
)
def get_receipt(call: Call, number: str) -> dict[str, Any]:
    """For a return (scan the receipt's barcode) or a reprint: lines with what is left to
    return, and tenders with what was already refunded to each. Another store's receipt is
    asked of the cloud (503 when it cannot be: then a return goes without the receipt), and
    answered with this store's variant ids and what every store has returned of it; 422
    `foreign_receipt_mismatch` or `foreign_items_unknown` when this store cannot refund it
    as it was paid."""
    if is_foreign(call.rt, number):
        return foreign_receipt(call.rt, number)
    return receipt(call.rt, number)


def _shift_out(row: Any) -> ShiftOut:
    return ShiftOut(
        id=row["id"],
        register=row["register"],
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        float_total=row["float_total"],
        closed=row["closed_event"] is not None,
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        z_number=row["number"],
    )


_SHIFT_SELECT = "SELECT s.*, z.number FROM shift s LEFT JOIN z_report z ON z.shift = s.id"


@api.route(
    "GET",
    "/shifts/current",
    summary="This register's open shift",
    tag="shifts",
    auth="device",
    response=ShiftOut,
)
def current_shift(call: Call) -> ShiftOut:
    """404 when the register has no open shift (open one with a shift.opened event)."""
    register = call.device_caller().register.id
    row = call.rt.db.one(
        _SHIFT_SELECT
        + " WHERE s.register = ? AND s.closed_event IS NULL ORDER BY s.opened_at DESC",
        (register,),
    )
    if row is None:
        raise NotFound(f"{register} has no open shift", code="no_open_shift")
    return _shift_out(row)


@api.route(
    "GET",
    "/shifts",
    summary="Shifts",
    tag="shifts",
    auth="staff",
    role=Role.SUPERVISOR,
    query=ShiftQuery,
    response=ShiftList,
)
def list_shifts(call: Call, query: ShiftQuery) -> ShiftList:
    """Newest first; filter by opening day, register and whether still open."""
    where, params = ["1 = 1"], []
    if query.date:
        where.append("substr(s.opened_at, 1, 10) = ?")
        params.append(query.date)
    if query.register:
        where.append("s.register = ?")
        params.append(query.register)
    if query.open is not None:
        where.append("s.closed_event IS NULL" if query.open else "s.closed_event IS NOT NULL")
    rows = call.rt.db.query(
        _SHIFT_SELECT + f" WHERE {' AND '.join(where)} ORDER BY s.opened_at DESC LIMIT ?",
        (*params, query.limit),
    )
    return ShiftList(shifts=[_shift_out(row) for row in rows])


@api.route(
    "GET",
    "/shifts/<shift_id>/report",
    summary="X or Z report",
    tag="shifts",
    auth="staff",
    query=ReportQuery,
    response=dict[str, Any],
    path={"shift_id": _ID_PATH},
)
def shift_report(call: Call, query: ReportQuery, shift_id: str) -> dict[str, Any]:
    """X (supervisors, while the shift is open: it shows the expected drawer, so cashiers
    count blind) or Z (numbered and immutable, written at close; its cashier may read it)."""
    return shifts.shift_report(call.rt, call.staff_caller(), shift_id, query.kind)


@api.route(
    "POST",
    "/shifts/<shift_id>/report/print",
    summary="Print an X or Z report on this register's printer",
    tag="shifts",
    auth="staff",
    query=ReportQuery,
    response=dict[str, Any],
    status=202,
    path={"shift_id": _ID_PATH},
    errors=(404, 409, 422),
)
def print_shift_report(call: Call, query: ReportQuery, shift_id: str) -> dict[str, Any]:
    """Who may read the report may print it (X: supervisors; Z: its cashiers too); it prints
    like a receipt, retried while the printer is away. 409 `no_printer` when the register has
    none. `{"job": id}`."""
    caller = call.staff_caller()
    job = shifts.print_report(
        call.rt, caller.require_staff(), caller.register.id, shift_id, query.kind
    )
    call.rt.print_wake.set()
    return {"job": job}


@api.route(
    "GET",
    "/reports/day",
    summary="The store's day across registers",
    tag="shifts",
    auth="staff",
    role=Role.SUPERVISOR,
    query=DayQuery,
    response=dict[str, Any],
)
def day_report(call: Call, query: DayQuery) -> dict[str, Any]:
    """Every shift opened that day with its Z number and net sales, store totals, tenders,
    and the cash over or short."""
    return shifts.day_summary(call.rt, query.date)


@api.route(
    "GET",
    "/stock",
    summary="On-hand of a variant",
    tag="stock",
    auth="device",
    query=StockQuery,
    response=StockOut,
)
def get_stock(call: Call, query: StockQuery) -> dict[str, Any]:
    """On-hand here from the stock fold (ARCHITECTURE.md), the anchoring count and its shrink,
    and other stores as last known (from the cloud, with how old the figure is)."""
    return stock.stock_of(call.rt, query.variant)


@api.route(
    "GET",
    "/stock/counts/<count_id>",
    summary="Variance report of a stock count",
    tag="stock",
    auth="staff",
    role=Role.SUPERVISOR,
    response=dict[str, Any],
    path={"count_id": _ID_PATH},
)
def count_variance(call: Call, count_id: str) -> dict[str, Any]:
    """Expected against counted per variant, and the value of each difference at cost."""
    return stock.variance(call.rt, count_id)


@api.route(
    "GET", "/reasons", summary="Reason codes", tag="selling", auth="device", response=ReasonList
)
def reasons(call: Call) -> ReasonList:
    """Return reasons (with what happens to the goods), stock adjustment and cash reasons."""
    return ReasonList(
        reasons=[
            ReasonOut(
                code=r["code"], kind=r["kind"], label=r["label"], disposition=r["disposition"]
            )
            for r in call.rt.db.query(
                "SELECT code, kind, label, disposition FROM reason_code WHERE active = 1 ORDER BY kind, label"
            )
        ]
    )


@api.route(
    "GET",
    "/store",
    summary="Store settings for registers",
    tag="selling",
    auth="device",
    response=StoreOut,
)
def store_settings(call: Call) -> StoreOut:
    """Tax, discount threshold, refund policy and denominations, so a register computes
    totals offline exactly as the appliance checks them."""
    settings = call.rt.settings
    return StoreOut(
        store=settings.store,
        name=settings.store_name,
        currency=settings.currency,
        locale=settings.locale,
        tax_mode=settings.tax_mode,  # type: ignore[arg-type]  # validated in Settings
        tax_rounding=settings.tax_rounding,  # type: ignore[arg-type]
        tax_rates=[
            TaxRateOut(tax_class=c, rate_ppm=r)
            for c, r in zip(settings.tax_classes, settings.tax_rates_ppm, strict=True)
        ],
        discount_threshold_bp=settings.discount_threshold_bp,
        no_receipt_refunds=list(settings.no_receipt_refunds),
        denominations=list(denominations(settings.currency)),
        override_ttl_seconds=settings.override_ttl_seconds,
        catalog_version=head(call.rt.db),
    )


@api.route(
    "GET",
    "/review",
    summary="Events flagged for review",
    tag="review",
    auth="staff",
    role=Role.MANAGER,
    query=FlagQuery,
    response=FlagList,
)
def list_flags(call: Call, query: FlagQuery) -> FlagList:
    """Replayed offline events that broke a rule, offline overrides, negative stock, cash
    over or short, recounts: kept, and waiting for a manager."""
    return FlagList(flags=review.list_flags(call.rt, open_only=query.open, limit=query.limit))


@api.route(
    "POST",
    "/review/<int:flag_id>/resolve",
    summary="Mark a flag reviewed",
    tag="review",
    auth="staff",
    role=Role.MANAGER,
    body=ResolveBody,
    response=FlagList,
    path={"flag_id": {"type": "integer", "minimum": 1}},
)
def resolve_flag(call: Call, body: ResolveBody, flag_id: int) -> FlagList:
    """The manager's note stays with the flag; the event itself never changes."""
    staff = call.staff_caller().require_staff()
    return FlagList(flags=[review.resolve(call.rt, flag_id, staff.id, body.note)])
