"""The Reorder page (HQ admins and buyers): what to order, by category or by vendor, why each
quantity, the transfers to make first, the report as CSV, and purchase orders drafted from it
per vendor (edit, mark sent / received / cancelled, CSV, a printable page).

The figures are cloud/reorder.py's (`load_items` then `plan`, as of today UTC) for the stores
asked for (`?store=`, else every store); open purchase orders count as on order there, so an
order drafted here is not suggested again. Money is in HQ's currency (core.currency():
TILLBOX_HQ_CURRENCY, else TILLBOX_CLOUD_CURRENCY as `tillbox cloud reorder report` reads it,
else EUR).
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Response, request

from cloud import purchase_orders, stock_grid
from cloud import reorder as engine
from cloud.hq.accounts import HqRole
from cloud.hq.core import (
    audit,
    currency,
    db,
    done,
    hq_route,
    me,
    page,
    requested_store,
    settings,
)
from protocol.money import Money
from webui.errors import ApiError, Invalid, NotFound

REORDER_ROLES = frozenset({HqRole.ADMIN, HqRole.BUYER})
GROUPS = ("vendor", "category")
SHOWS = ("order", "low", "all")
_ERRORS: dict[str, type[ApiError]] = {"unknown_order": NotFound}


def money(amount: int | None) -> str:
    return "—" if amount is None else Money(amount, currency()).to_decimal_string()


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """The report's filters."""

    store: str | None
    category: str | None
    vendor: str | None
    group: str
    show: str
    # The day to plan for (its ISO week is the current one); None: today, UTC.
    as_of: date | None = None

    def args(self) -> dict[str, str]:
        values = {
            "store": self.store,
            "category": self.category,
            "vendor": self.vendor,
            "group": self.group,
            "show": self.show,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }
        return {k: v for k, v in values.items() if v}


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name) or allowed[0]
    if value not in allowed:
        raise Invalid(
            f"{name} is one of: {', '.join(allowed)}",
            code="invalid_filter",
            details={"field": name},
        )
    return value


def _name(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if len(value) > 100:
        raise Invalid(
            f"{name} is at most 100 characters", code="invalid_filter", details={"field": name}
        )
    return value or None


def _day() -> date | None:
    raw = (request.args.get("as_of") or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        raise Invalid(
            "as_of is a day written YYYY-MM-DD", code="invalid_filter", details={"field": "as_of"}
        )
    return day


def _wanted() -> Wanted:
    return Wanted(
        store=requested_store(),
        category=_name("category"),
        vendor=_name("vendor"),
        group=_choice("group", GROUPS),
        show=_choice("show", SHOWS),
        as_of=_day(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One store × SKU of the report with the terms that explain its quantity."""

    s: engine.Suggestion
    item: engine.Item

    @property
    def position(self) -> int:
        return max(self.s.on_hand, 0) + self.s.in_transit + self.s.on_order + self.s.transfer

    @property
    def why(self) -> str:
        """The quantity's reasoning in words."""
        s, item = self.s, self.item
        if s.note:
            return s.note
        season = f", season ×{s.season:.2f}" if abs(s.season - 1) >= 0.005 else ""
        protect = item.lead_time_days + item.review_days
        held = [f"on hand {max(s.on_hand, 0)}"]
        if s.in_transit:
            held.append(f"in transit {s.in_transit}")
        if s.on_order:
            held.append(f"on order {s.on_order}")
        if s.transfer:
            held.append(f"transfer {s.transfer:+d}")
        parts = [
            f"{s.per_day:.2f}/day ({s.weeks_of_history} wk of sales{season})"
            f" × {protect} d ({item.lead_time_days} d lead + {item.review_days} d review)"
            f" + {s.safety_stock} safety = up to {s.order_up_to}",
            f"position {self.position} ({', '.join(held)})",
        ]
        if s.order_qty:
            need = s.order_up_to - self.position
            rounding = []
            if item.min_order_qty and item.min_order_qty > need:
                rounding.append(f"min order {item.min_order_qty}")
            if item.pack_size > 1:
                rounding.append(f"{s.packs} pack(s) of {item.pack_size}")
            parts.append(
                f"need {need} → order {s.order_qty}"
                + (f" ({', '.join(rounding)})" if rounding else "")
            )
        else:
            parts.append("enough: nothing to order")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    name: str
    rows: list[Row]

    @property
    def units(self) -> int:
        return sum(r.s.order_qty for r in self.rows)

    @property
    def value(self) -> int:
        return sum(r.s.order_value or 0 for r in self.rows)

    @property
    def uncosted(self) -> int:
        return sum(1 for r in self.rows if r.s.order_qty and r.s.order_value is None)

    @property
    def orderable(self) -> bool:
        return any(r.s.order_qty for r in self.rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    plan: engine.Plan
    items: dict[tuple[str, str], engine.Item]
    groups: list[Group]
    as_of: date

    @property
    def shipments(self) -> dict[tuple[str, str], list[engine.Transfer]]:
        """The plan's transfers by (sending, receiving) store: one request each."""
        out: dict[tuple[str, str], list[engine.Transfer]] = defaultdict(list)
        for t in self.plan.transfers:
            out[(t.from_store, t.to_store)].append(t)
        return dict(out)


def _stores(wanted: Wanted) -> list[str] | None:
    return [wanted.store] if wanted.store else None


def build(wanted: Wanted) -> Report:
    """The plan for the filters, grouped as asked."""
    as_of = wanted.as_of or datetime.now(UTC).date()
    scope = engine.Scope(stores=_stores(wanted), category=wanted.category, vendor=wanted.vendor)
    policy = engine.Policy()
    items = engine.load_items(db(), as_of, scope, weeks=policy.trailing_weeks)
    plan = engine.plan(items, as_of, policy)
    by_key = {(i.store, i.sku.upper()): i for i in items}
    grouped: dict[str, list[Row]] = defaultdict(list)
    for s in plan.suggestions:
        if wanted.show == "order" and not s.order_qty:
            continue
        if wanted.show == "low" and not (s.low or s.order_qty):
            continue
        key = (s.vendor if wanted.group == "vendor" else s.category) or ""
        grouped[key].append(Row(s=s, item=by_key[(s.store, s.sku.upper())]))
    groups = [
        Group(name=name, rows=sorted(rows, key=lambda r: (r.s.sku.upper(), r.s.store)))
        for name, rows in sorted(grouped.items(), key=lambda kv: (kv[0] == "", kv[0].lower()))
    ]
    return Report(plan=plan, items=by_key, groups=groups, as_of=as_of)


@hq_route("/reorder", roles=REORDER_ROLES)
def reorder() -> Response:
    """The report."""
    wanted = _wanted()
    report = build(wanted)
    conn = db()
    stores = _stores(wanted) or [r[0] for r in conn.execute("SELECT id FROM store ORDER BY id")]
    return page(
        "hq/reorder.html",
        wanted=wanted,
        report=report,
        money=money,
        currency=currency(),
        columns=stock_grid.store_columns(
            conn, stores, stale_after=timedelta(minutes=settings().stale_after_minutes)
        ),
        categories=stock_grid.categories(conn),
        vendors=stock_grid.vendors(conn),
        open_orders=purchase_orders.orders(conn, ("draft", "sent")),
    )


def _csv(text: str, name: str) -> Response:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )


@hq_route("/reorder.csv", roles=REORDER_ROLES)
def reorder_csv() -> Response:
    """The report's suggestions (every line, whatever `show`), or ?transfers=1 its transfers."""
    transfers = request.args.get("transfers", "")
    if transfers not in ("", "0", "1"):
        raise Invalid("transfers is 1 or 0", code="invalid_filter", details={"field": "transfers"})
    report = build(_wanted())
    out = io.StringIO()
    engine.write_csv(report.plan, out, currency(), transfers=transfers == "1")
    return _csv(out.getvalue(), "transfers" if transfers == "1" else "reorder")


@hq_route("/reorder/orders", roles=REORDER_ROLES, methods=("POST",))
def reorder_draft() -> Response:
    """A draft purchase order for one vendor from the report as the filters give it."""
    vendor = (request.form.get("vendor") or "").strip()
    if not vendor or len(vendor) > 100:
        raise Invalid(
            "name the vendor to order from", code="invalid_vendor", details={"field": "vendor"}
        )
    wanted = _wanted()
    only = Wanted(
        store=wanted.store,
        category=wanted.category,
        vendor=vendor,
        group="vendor",
        show="order",
        as_of=wanted.as_of,
    )
    report = build(only)
    try:
        order_id = purchase_orders.draft(
            db(),
            vendor,
            report.plan.suggestions,
            pack_sizes={k[1]: i.pack_size for k, i in report.items.items()},
            unit_costs={k[1]: i.unit_cost for k, i in report.items.items()},
            currency=currency(),
            by=me().user.id,
        )
    except purchase_orders.OrderError as exc:
        raise _api_error(exc) from None
    with db().transaction():
        audit("purchase_order.draft", str(order_id), {"vendor": vendor, "store": wanted.store})
    return done(
        "hq.purchase_order", f"Draft purchase order {order_id} for {vendor}", order_id=order_id
    )


def _api_error(exc: purchase_orders.OrderError) -> ApiError:
    kind = _ERRORS.get(exc.code, Invalid)
    details = {"field": exc.field} if exc.field else {}
    return kind(exc.message, code=exc.code, details=details)


def _order(order_id: int) -> purchase_orders.Order:
    order = purchase_orders.get(db(), order_id)
    if order is None:
        raise NotFound(f"no purchase order {order_id}", code="unknown_order")
    return order


@hq_route("/reorder/orders", roles=REORDER_ROLES)
def purchase_order_list() -> Response:
    """Every purchase order, newest first."""
    return page("hq/reorder_orders.html", orders=purchase_orders.orders(db()), money=money)


@hq_route("/reorder/orders/<int:order_id>", roles=REORDER_ROLES)
def purchase_order(order_id: int) -> Response:
    """One order: its lines, quantities editable while it is a draft."""
    return page("hq/reorder_order.html", order=_order(order_id), errors={}, given={})


@hq_route("/reorder/orders/<int:order_id>", roles=REORDER_ROLES, methods=("POST",))
def purchase_order_save(order_id: int) -> Response:
    """Save a draft's quantities (all checked before any is written)."""
    try:
        changed = purchase_orders.set_quantities(db(), order_id, request.form)
    except purchase_orders.OrderError as exc:
        if exc.field is None or request.accept_mimetypes.best == "application/json":
            raise _api_error(exc) from None
        return page(
            "hq/reorder_order.html",
            status=422,
            order=_order(order_id),
            errors={exc.field: exc.message},
            given=request.form,
        )
    with db().transaction():
        audit("purchase_order.edit", str(order_id), {"changed": changed})
    return done("hq.purchase_order", f"Saved: {len(changed)} line(s) changed", order_id=order_id)


@hq_route("/reorder/orders/<int:order_id>/state", roles=REORDER_ROLES, methods=("POST",))
def purchase_order_state(order_id: int) -> Response:
    """Mark an order sent, received or cancelled."""
    state = request.form.get("state", "")
    try:
        order = purchase_orders.move(db(), order_id, state)
    except purchase_orders.OrderError as exc:
        raise _api_error(exc) from None
    with db().transaction():
        audit("purchase_order." + state, str(order_id), {"vendor": order.vendor})
    return done("hq.purchase_order", f"Order {order_id} marked {state}", order_id=order_id)


@hq_route("/reorder/orders/<int:order_id>.csv", roles=REORDER_ROLES)
def purchase_order_csv(order_id: int) -> Response:
    """One order's lines as CSV."""
    out = io.StringIO()
    purchase_orders.write_csv(_order(order_id), out)
    return _csv(out.getvalue(), f"purchase-order-{order_id}")


@hq_route("/reorder/orders/<int:order_id>/print", roles=REORDER_ROLES)
def purchase_order_print(order_id: int) -> Response:
    """One order laid out for paper (or a PDF from the browser's print)."""
    return page("hq/reorder_print.html", order=_order(order_id))
