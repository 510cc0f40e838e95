"""The Analytics page: sales by day, week or month, by store, category and vendor; the same ISO
weeks a year earlier; top and slow movers; margin; returns by reason; cash over/short by store
and cashier; overrides by staff member. Each chart is drawn from the table beside it (the
table is the source of truth, and each has its CSV). Figures come from the rollups
(cloud/analytics.py), each store's freshness beside them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Response, request

from cloud import analytics as queries
from cloud import stock_grid
from cloud.analytics import Filter, Grain
from cloud.hq.core import EVERYONE, bp, db, hq_route, me, page, requested_store, scope_stores
from cloud.hq.core import settings as hq_settings
from cloud.rollups import zones_due
from webui.errors import Invalid
from webui.forms import Forms
from webui.pages import wants_json
from webui.spreadsheet import csv_cell

FORM = "filters"
DEFAULT_DAYS = 28


class FilterInvalid(Invalid):
    """Filters that cannot be read: each field's problem in `details["fields"]`."""


def _date(raw: str, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "a date like 2026-03-31"
        return None


def _whole(name: str, errors: dict[str, str]) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        errors[name] = "choose one from the list"
        return None
    return int(raw)


def read_filter() -> Filter:
    """The page's filters from the query string, or FilterInvalid naming each bad field."""
    errors: dict[str, str] = {}
    picked = requested_store()
    stores = (picked,) if picked else tuple(s for s, _ in scope_stores(me().user))
    today = datetime.now(UTC).date()
    end = _date((request.args.get("to") or "").strip(), "to", errors)
    start = _date((request.args.get("from") or "").strip(), "from", errors)
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if not errors:
        if start > end:
            errors["from"] = "the first day must not be after the last"
        elif (end - start).days + 1 > queries.MAX_DAYS:
            errors["from"] = f"a range is at most {queries.MAX_DAYS} days"
        elif start.year < 2000 or end.year > 2200:
            errors["from"] = "a date between 2000 and 2200"
    raw_grain = (request.args.get("grain") or "").strip()
    grain: Grain
    if raw_grain in queries.GRAINS:
        grain = raw_grain
    elif raw_grain:
        errors["grain"] = "day, week or month"
        grain = "day"
    else:
        grain = "day" if (end - start).days < 62 else "week"
    category = _whole("category", errors)
    vendor = _whole("vendor", errors)
    if errors:
        raise FilterInvalid(
            "these filters cannot be used: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            code="invalid_filter",
            details={"fields": errors},
        )
    return Filter(
        stores=stores, start=start, end=end, category=category, vendor=vendor, grain=grain
    )


def money(value: int | None) -> str:
    """Minor units as 1,234.56 (−12.00 for a negative)."""
    if value is None:
        return "—"
    sign = "−" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def units(value: Decimal | None) -> str:
    if value is None:
        return "—"
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return text.replace("-", "−")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %".replace("-", "−")


def change(now: Decimal | int, before: Decimal | int | None) -> float | None:
    """Per cent change from `before` (None: nothing to compare with)."""
    if before is None or before == 0:
        return None
    return float(100 * (Decimal(now) - Decimal(before)) / abs(Decimal(before)))


bp.add_app_template_filter(money, "analytics_money")
bp.add_app_template_filter(units, "analytics_units")
bp.add_app_template_filter(pct, "analytics_pct")
bp.add_app_template_global(change, "analytics_change")


def _sized() -> Any:
    """This request's connection, with room to sort and hash a range of the item rollup in
    memory (the connection is this request's own and closed after it)."""
    conn = db()
    conn.execute("SET work_mem = '64MB'")
    return conn


def _report(f: Filter) -> dict[str, Any]:
    conn = _sized()
    found = queries.items(conn, f)
    top, slow = queries.movers(conn, f, found=found)
    cash_stores, cash_cashiers = queries.cash_over_short(conn, f)
    overrides = queries.overrides_by_staff(conn, f) if queries.has_overrides(conn) else None
    return {
        "trend": queries.trend(conn, f),
        "stores": queries.by_store(conn, f),
        "categories": queries.by_category(conn, f, found),
        "vendors": queries.by_vendor(conn, f, found),
        "seasonal": queries.seasonal(conn, f),
        "top": top,
        "slow": slow,
        "margin": queries.margin_items(conn, f, found=found),
        "returns": queries.returns_by_reason(conn, f),
        "cash_stores": cash_stores,
        "cash_cashiers": cash_cashiers,
        "overrides": overrides,
    }


def _choices() -> dict[str, Any]:
    conn = db()
    return {
        "categories": stock_grid.categories(conn),
        "vendors": stock_grid.vendors(conn),
        "grains": queries.GRAINS,
    }


@hq_route("/analytics", roles=EVERYONE)
def analytics() -> Response:
    """Every analytics table and chart for the filters."""
    try:
        wanted = read_filter()
    except FilterInvalid as exc:
        if wants_json():
            raise
        fields = exc.details["fields"] if isinstance(exc.details, dict) else {}
        forms = Forms(errors={FORM: fields}, values={FORM: dict(request.args.items())})
        return page(
            "hq/analytics.html",
            status=exc.status,
            forms=forms,
            wanted=None,
            args={},
            picked=requested_store(),
            **_choices(),
        )
    config = hq_settings()
    conn = db()
    args = {k: v for k, v in request.args.items() if v}
    values = {
        "from": wanted.start.isoformat(),
        "to": wanted.end.isoformat(),
        "grain": wanted.grain,
        "category": str(wanted.category or ""),
        "vendor": str(wanted.vendor or ""),
    }
    return page(
        "hq/analytics.html",
        forms=Forms(values={FORM: values}),
        wanted=wanted,
        args=args,
        picked=requested_store(),
        report=_report(wanted),
        columns=stock_grid.store_columns(
            conn,
            list(wanted.stores),
            stale_after=timedelta(minutes=config.stale_after_minutes),
        ),
        zones=queries.zones(conn, wanted.stores),
        due=[z for z in zones_due(conn) if z[0] in wanted.stores],
        stale_minutes=config.stale_after_minutes,
        **_choices(),
    )


def _figures_rows(rows: list[queries.Figures], key: str) -> list[list[Any]]:
    out: list[list[Any]] = [
        [
            key,
            "sales",
            "units",
            "net_sales",
            "returns",
            "tax",
            "discount",
            "cost",
            "margin",
            "margin_pct",
            "net_without_cost",
        ]
    ]
    for r in rows:
        out.append(
            [
                r.label,
                r.sales,
                r.units,
                r.net,
                r.returned,
                r.tax,
                r.discount,
                r.cost,
                r.margin,
                None if r.margin_pct is None else round(r.margin_pct, 2),
                r.uncosted,
            ]
        )
    return out


def _movers_rows(rows: list[queries.Mover]) -> list[list[Any]]:
    out: list[list[Any]] = [
        ["sku", "product", "category", "units", "net_sales", "previous_units", "margin_pct"]
    ]
    for m in rows:
        out.append(
            [
                m.sku,
                m.product,
                m.category,
                m.units,
                m.net,
                m.previous_units,
                None if m.margin_pct is None else round(m.margin_pct, 2),
            ]
        )
    return out


def _cash_rows(rows: list[queries.CashRow]) -> list[list[Any]]:
    out: list[list[Any]] = [
        ["store", "cashier", "name", "shifts", "short_shifts", "over", "short", "net"]
    ]
    out += [
        [r.store, r.cashier, r.name, r.shifts, r.short_shifts, r.over, r.short, r.net] for r in rows
    ]
    return out


_TABLES: dict[str, Callable[[Filter], list[list[Any]]]] = {
    "trend": lambda f: _figures_rows(queries.trend(db(), f), "period"),
    "stores": lambda f: _figures_rows(queries.by_store(db(), f), "store"),
    "categories": lambda f: _figures_rows(queries.by_category(db(), f), "category"),
    "vendors": lambda f: _figures_rows(queries.by_vendor(db(), f), "vendor"),
    "margin": lambda f: _figures_rows(queries.margin_items(db(), f, limit=10_000), "item"),
    "top": lambda f: _movers_rows(queries.movers(db(), f, limit=100)[0]),
    "slow": lambda f: _movers_rows(queries.movers(db(), f, limit=100)[1]),
    "seasonal": lambda f: (
        [["iso_week", "week_start", "net_sales", "same_week_last_year"]]
        + [[w.label, w.start.isoformat(), w.net, w.last_year] for w in queries.seasonal(db(), f)]
    ),
    "returns": lambda f: (
        [["reason", "label", "lines", "units", "refunded_net"]]
        + [[r.reason, r.label, r.lines, r.units, r.net] for r in queries.returns_by_reason(db(), f)]
    ),
    "cash_stores": lambda f: _cash_rows(queries.cash_over_short(db(), f)[0]),
    "cash_cashiers": lambda f: _cash_rows(queries.cash_over_short(db(), f)[1]),
    "overrides": lambda f: (
        [["store", "staff", "name", "role", "action", "count", "amount"]]
        + [
            [o.store, o.staff, o.name, o.role, o.action, o.count, o.amount]
            for o in (queries.overrides_by_staff(db(), f) if queries.has_overrides(db()) else [])
        ]
    ),
}
TABLES = tuple(_TABLES)


def _cell(value: Any) -> str | int:
    if isinstance(value, Decimal):
        return format(value.normalize() + 0, "f")
    if isinstance(value, float):
        return f"{value:.2f}"
    return csv_cell(value)


@hq_route("/analytics.csv", roles=EVERYONE)
def analytics_csv() -> Response:
    """One of the page's tables as CSV (`table`, the trend by default), for the same filters;
    money in minor units."""
    name = request.args.get("table") or "trend"
    if name not in _TABLES:
        raise Invalid(
            f"table must be one of: {', '.join(TABLES)}",
            code="invalid_filter",
            details={"field": "table"},
        )
    wanted = read_filter()
    _sized()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in _TABLES[name](wanted):
        writer.writerow([_cell(v) for v in row])
    stamp = f"{wanted.start.isoformat()}_{wanted.end.isoformat()}"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="analytics-{name}-{stamp}.csv"'},
    )
