"""Stock: counts (start, scan or type what is on the shelf, see the variance, post), deliveries
booked in, stock adjustments, and the recent ones of each. Thin over appliance/stock_counts.py
and appliance/deliveries.py, which make the same stock events the registers send."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for

from appliance import deliveries, stock, stock_counts
from appliance.admin.core import admin, admin_route, audit, done, form_text, page, rt, see_other
from appliance.errors import ApiError
from appliance.receipts.layouts import money
from appliance.runtime import Runtime
from protocol.permissions import PERMISSIONS, Action, Role
from webui.forms import Fields, FormInvalid, Forms, from_domain, refused, whole_number

# Counting and receiving are floor work a supervisor leads; posting a count changes on-hand
# for good and is a manager's (stock_count_approve), an adjustment a supervisor's.
STOCK_ROLE = Role.SUPERVISOR
POST_ROLE = PERMISSIONS[Action.STOCK_COUNT_APPROVE].min_role
ADJUST_ROLE = PERMISSIONS[Action.STOCK_ADJUST].min_role
RECENT = 20
UNCOUNTED_SHOWN = 100

_DELIVERY_FIELDS = {"bad_lines": "lines", "too_many_lines": "lines"}
_COUNT_FIELDS = {"unknown_code": "code", "code_required": "code", "bad_quantity": "qty"}


def _money(runtime: Runtime) -> Any:
    settings = runtime.settings

    def m(amount: int | None) -> str:
        return "—" if amount is None else money(amount, settings.currency, settings.locale)

    return m


def _recent(runtime: Runtime, kind: str) -> list[Any]:
    """The latest stock movements of a kind, with the item, who and when."""
    return runtime.db.query(
        "SELECT l.event, l.qty, l.reason, e.at, e.actor, e.origin, v.sku,"
        " f.doc ->> '$.title' AS title, e.envelope ->> '$.body.vendor' AS vendor"
        " FROM stock_ledger l JOIN event e ON e.id = l.event"
        " JOIN variant v ON v.uid = l.variant"
        " LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
        " WHERE l.kind = ? ORDER BY e.store_seq DESC, l.line LIMIT ?",
        (kind, RECENT * 3),
    )


def _show(forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    return page(
        "admin/stock.html",
        status=status,
        forms=forms or Forms(),
        counts=stock_counts.recent(runtime),
        adjustments=_recent(runtime, "adjust"),
        receipts=_recent(runtime, "receipt"),
        reasons=deliveries.adjustment_reasons(runtime),
        may_adjust=admin().staff.role >= ADJUST_ROLE,
    )


@admin_route("/stock", role=STOCK_ROLE)
def stock_page() -> Response:
    """Counts, deliveries and adjustments."""
    return _show()


@admin_route("/stock/counts", role=STOCK_ROLE, methods=("POST",))
def count_start() -> Response:
    """Start a count: full (every item; those not counted are 0) or cycle, blind or not."""
    runtime = rt()
    scope = (request.form.get("scope") or "").strip()
    blind = request.form.get("blind") == "1"
    try:
        if scope not in ("full", "cycle"):
            raise FormInvalid("count-start", {"scope": "choose full or cycle"})
        with runtime.db.write():
            draft = stock_counts.start(runtime, scope=scope, blind=blind, staff=admin().staff.id)
            audit("count_start", f"count:{draft.id}", {"scope": scope, "blind": blind})
    except FormInvalid as exc:
        return _show(refused(exc), exc.status)
    return done("admin.count_page", f"A {scope} count started", count_id=draft.id)


def _show_count(count_id: str, forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    draft = stock_counts.get(runtime, count_id)
    variance = stock.variance(runtime, count_id) if draft.posted_event else None
    lines = stock_counts.preview(runtime, count_id) if variance is None else []
    counted = [line for line in lines if line.counted_here]
    # A full count has every item in the store; while counting, the page lists what was
    # counted and only the first of the rest (each scan reloads it).
    uncounted = [line for line in lines if not line.counted_here]
    return page(
        "admin/count.html",
        status=status,
        forms=forms or Forms(),
        draft=draft,
        lines=counted + uncounted[:UNCOUNTED_SHOWN],
        uncounted_hidden=max(0, len(uncounted) - UNCOUNTED_SHOWN),
        counted_lines=counted,
        total_value=sum(line.value for line in lines),
        variance=variance,
        show_expected=not (draft.blind and draft.open),
        may_post=admin().staff.role >= POST_ROLE,
        m=_money(runtime),
    )


@admin_route("/stock/counts/<count_id>", role=STOCK_ROLE)
def count_page(count_id: str) -> Response:
    """One count: the scan field, what was counted, and the variance (after posting, the
    stock.variance report; before, a preview unless the count is blind)."""
    return _show_count(count_id)


@admin_route("/stock/counts/<count_id>/scan", role=STOCK_ROLE, methods=("POST",))
def count_scan(count_id: str) -> Response:
    """A scan adds one of the item (or the quantity typed with it)."""
    runtime = rt()
    form = "scan"
    try:
        qty = whole_number(form, "qty", label="The quantity", default=1)
        code = form_text("code", max_length=64)
        with runtime.db.write():
            variant, counted = stock_counts.add(runtime, count_id, code, qty)
        sku = runtime.db.scalar("SELECT sku FROM variant WHERE uid = ?", (variant,))
    except FormInvalid as exc:
        return _show_count(count_id, refused(exc), exc.status)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return _show_count(count_id, refused(from_domain(form, exc, _COUNT_FIELDS)), exc.status)
    return done("admin.count_page", f"{sku}: {counted} counted", count_id=count_id)


@admin_route("/stock/counts/<count_id>/lines", role=STOCK_ROLE, methods=("POST",))
def count_set(count_id: str) -> Response:
    """Correct one item's count to the figure typed."""
    runtime = rt()
    variant = (request.form.get("variant") or "").strip()
    form = f"line-{variant}"
    try:
        counted = whole_number(form, "counted", label="The count")
        stock_counts.set_counted(runtime, count_id, variant, counted)
    except FormInvalid as exc:
        return _show_count(count_id, refused(exc), exc.status)
    except ApiError as exc:
        return _show_count(
            count_id, refused(from_domain(form, exc, {"bad_quantity": "counted"})), exc.status
        )
    return see_other(url_for("admin.count_page", count_id=count_id))


@admin_route("/stock/counts/<count_id>/post", role=POST_ROLE, methods=("POST",))
def count_post(count_id: str) -> Response:
    """Book the count (a stock.counted event): on-hand becomes what was counted."""
    runtime = rt()
    try:
        with runtime.db.write():
            event = stock_counts.post(runtime, count_id, admin().staff)
            audit("count_post", f"count:{count_id}", {"event": event})
    except ApiError as exc:
        if exc.status == 404:
            raise
        return _show_count(count_id, refused(from_domain("post", exc)), exc.status)
    return done(
        "admin.count_page", "Count posted: on-hand is now what was counted", count_id=count_id
    )


@admin_route("/stock/counts/<count_id>/discard", role=STOCK_ROLE, methods=("POST",))
def count_discard(count_id: str) -> Response:
    """Give up a count; nothing was booked."""
    runtime = rt()
    try:
        with runtime.db.write():
            stock_counts.discard(runtime, count_id)
            audit("count_discard", f"count:{count_id}")
    except ApiError as exc:
        if exc.status == 404:
            raise
        return _show_count(count_id, refused(from_domain("post", exc)), exc.status)
    return done("admin.stock_page", "Count discarded; nothing was booked")


@admin_route("/stock/deliveries", role=STOCK_ROLE, methods=("POST",))
def delivery_receive() -> Response:
    """Book a delivery in (one stock.received event)."""
    runtime = rt()
    form = "delivery"
    try:
        vendor = form_text("vendor", max_length=201)
        reference = form_text("reference", max_length=65)
        fields = Fields(form)
        if len(vendor) > 200:
            fields.errors["vendor"] = "at most 200 characters"
        if len(reference) > 64:
            fields.errors["reference"] = "at most 64 characters"
        fields.check()
        text = (request.form.get("lines") or "")[:200_000]
        with runtime.db.write():
            lines = deliveries.parse_lines(runtime, text)
            event = deliveries.receive(
                runtime, admin().staff, lines, vendor=vendor or None, reference=reference or None
            )
            audit(
                "delivery_receive",
                f"event:{event}",
                {"vendor": vendor, "reference": reference, "lines": len(lines)},
            )
    except FormInvalid as exc:
        return _show(refused(exc), exc.status)
    except ApiError as exc:
        return _show(refused(from_domain(form, exc, _DELIVERY_FIELDS)), exc.status)
    units = sum(line.qty for line in lines)
    return done("admin.stock_page", f"Delivery booked in: {len(lines)} item(s), {units} unit(s)")


@admin_route("/stock/adjustments", role=ADJUST_ROLE, methods=("POST",))
def stock_adjust() -> Response:
    """One stock correction with a reason (one stock.adjusted event)."""
    runtime = rt()
    form = "adjust"
    try:
        fields = Fields(form)
        code = form_text("code", max_length=64)
        qty = fields.number("qty", label="The change", default=0)
        if not qty and "qty" not in fields.errors:
            fields.errors["qty"] = "the change is a whole number, not 0 (−5 removes 5)"
        reason = fields.choice(
            "reason", dict(deliveries.adjustment_reasons(runtime)), label="reason"
        )
        note = form_text("note", max_length=200)
        if not code:
            fields.errors["code"] = "scan a barcode or type a SKU"
        fields.check()
        with runtime.db.write():
            event = deliveries.adjust(
                runtime, admin().staff, code=code, qty=qty, reason=reason, note=note or None
            )
            audit("stock_adjust", f"event:{event}", {"code": code, "qty": qty, "reason": reason})
    except FormInvalid as exc:
        return _show(refused(exc), exc.status)
    except ApiError as exc:
        return _show(
            refused(from_domain(form, exc, {"unknown_code": "code", "invalid_body": "note"})),
            exc.status,
        )
    return done("admin.stock_page", f"Stock of {code} adjusted by {qty:+d}")
