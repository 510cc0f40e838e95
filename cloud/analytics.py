"""HQ's sales analytics, read from the rollups ingest keeps (cloud/rollups.py, §59): sales by
day, ISO week or month, by store, category and vendor; the same ISO weeks a year earlier; top
and slow movers; margin over cost; returns by reason; cash over/short by store and cashier;
overrides by staff member.

Money is in minor units, units are numeric (a weighed line sells 0.250). Net sales are sales
less post-voids less returns, without tax. Margin counts only lines whose cost was known
(`costed_net` less `cost`), so an item without a cost never shows as pure profit. Category and
vendor are the catalog's now, reached through the store's SKU (store_variant), as on the
stock grid: a store's variant that HQ cannot map to the catalog shows as "Not in catalog".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import psycopg

Conn = psycopg.Connection[Any]
Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
# The longest range a page shows (about three years of days).
MAX_DAYS = 1100


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """What the analytics show: the stores (never empty), an inclusive local-day range, an
    optional category and vendor, and the trend's granularity."""

    stores: tuple[str, ...]
    start: date
    end: date
    category: int | None = None
    vendor: int | None = None
    grain: Grain = "day"

    @property
    def by_item(self) -> bool:
        """Whether the figures need each variant's category or vendor."""
        return self.category is not None or self.vendor is not None

    def previous(self) -> Filter:
        """The same number of days just before this range."""
        days = (self.end - self.start).days + 1
        return Filter(
            stores=self.stores,
            start=self.start - timedelta(days=days),
            end=self.start - timedelta(days=1),
            category=self.category,
            vendor=self.vendor,
            grain=self.grain,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """Sales figures of one row: a period, a store, a category, a vendor or an item."""

    key: str
    label: str
    sales: int | None
    units: Decimal
    net: int
    returned: int
    tax: int
    discount: int
    cost: int
    costed_net: int

    @property
    def margin(self) -> int:
        """Net sales less cost, over the lines whose cost is known."""
        return self.costed_net - self.cost

    @property
    def margin_pct(self) -> float | None:
        return None if self.costed_net <= 0 else 100.0 * self.margin / self.costed_net

    @property
    def uncosted(self) -> int:
        """Net sales of lines without a cost (not in the margin)."""
        return self.net - self.costed_net


@dataclass(frozen=True, slots=True, kw_only=True)
class Mover:
    """An item's units and net sales in the range and in the range before."""

    sku: str
    product: str
    category: str | None
    units: Decimal
    net: int
    previous_units: Decimal
    margin_pct: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SeasonWeek:
    """One ISO week number: net sales this ISO year and the one before."""

    week: int
    label: str
    start: date
    net: int
    last_year: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasonRow:
    """Returns under one reason code."""

    reason: str
    label: str
    lines: int
    units: Decimal
    net: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CashRow:
    """Closed shifts' cash over (positive) or short (negative), for a store or a cashier."""

    store: str
    cashier: str | None
    name: str
    shifts: int
    short_shifts: int
    over: int
    short: int

    @property
    def net(self) -> int:
        return self.over + self.short


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideRow:
    """Overrides a staff member asked for or approved, by action."""

    store: str
    staff: str
    name: str
    role: str
    action: str
    count: int
    amount: int


_NET = "sum(d.sold_net - d.returned_net)"
_FIGURES = (
    "sum(d.sold_units - d.returned_units), " + _NET + ", sum(d.returned_net), sum(d.tax),"
    " sum(d.discount), sum(d.cost), sum(d.costed_net)"
)
# The same figures over `_per_item`'s rows (a).
_ITEM_FIGURES = (
    "sum(a.units), sum(a.net), sum(a.returned), sum(a.tax), sum(a.discount), sum(a.cost),"
    " sum(a.costed)"
)


def _where(f: Filter, params: dict[str, Any]) -> str:
    params.update(stores=list(f.stores), start=f.start, end=f.end)
    return " WHERE d.store = ANY(%(stores)s) AND d.day BETWEEN %(start)s AND %(end)s"


def _per_item(f: Filter, params: dict[str, Any], key: str = "NULL::int") -> str:
    """FROM … WHERE over sales_day summed per SKU (and `key`, as a.k) first, then joined to
    the catalog (cv, p) and narrowed by category and vendor: the catalog is joined once per
    item, not once per row. A row booked before its store mapped the variant to a SKU finds
    it in store_variant (only those rows look)."""
    sql = (
        " FROM (SELECT COALESCE(d.sku, (SELECT upper(sv.sku) FROM store_variant sv"
        f"  WHERE sv.store = d.store AND sv.uid = d.variant)) AS sku, {key} AS k,"
        " sum(d.sold_units - d.returned_units) AS units, sum(d.sold_net - d.returned_net) AS net,"
        " sum(d.returned_net) AS returned, sum(d.tax) AS tax, sum(d.discount) AS discount,"
        " sum(d.cost) AS cost, sum(d.costed_net) AS costed FROM sales_day d"
        + _where(f, params)
        + " GROUP BY 1, 2) AS a"
        " LEFT JOIN catalog_variant cv ON upper(cv.sku) = a.sku"
        " LEFT JOIN catalog_product p ON p.id = cv.product_id"
    )
    clauses = ["true"]
    if f.category is not None:
        clauses.append("p.category_id = %(category)s")
        params["category"] = f.category
    if f.vendor is not None:
        clauses.append("p.vendor_id = %(vendor)s")
        params["vendor"] = f.vendor
    return sql + "{joins} WHERE " + " AND ".join(clauses)


def _figures(row: Any, key: str, label: str, sales: int | None) -> Figures:
    units, net, returned, tax, discount, cost, costed = row
    return Figures(
        key=key,
        label=label,
        sales=sales,
        units=Decimal(units or 0).normalize() + 0,
        net=int(net or 0),
        returned=int(returned or 0),
        tax=int(tax or 0),
        discount=int(discount or 0),
        cost=int(cost or 0),
        costed_net=int(costed or 0),
    )


def _grouped(conn: Conn, f: Filter, key: str) -> list[tuple[Any, ...]]:
    """(key, sales or None, figures…) per `key` (over d, a sales_day or sales_store_day row)
    over the range: from sales_store_day when no category or vendor narrows it, else from
    sales_day and the catalog."""
    params: dict[str, Any] = {}
    if f.by_item:
        sql = f"SELECT a.k, NULL::bigint, {_ITEM_FIGURES}" + _per_item(f, params, key).format(
            joins=""
        )
    else:
        sql = f"SELECT {key} AS k, sum(d.sales), {_FIGURES} FROM sales_store_day d" + _where(
            f, params
        )
    return conn.execute(sql + " GROUP BY 1 ORDER BY 1", params).fetchall()


def period_label(grain: Grain, start: date) -> str:
    """How a period is named: 2026-03-05, 2026-W10, 2026-03."""
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "month":
        return start.strftime("%Y-%m")
    return start.isoformat()


def periods(f: Filter) -> list[date]:
    """Every period's first day over the range (a period with no sales still shows)."""
    if f.grain == "day":
        first = f.start
    elif f.grain == "week":
        first = f.start - timedelta(days=f.start.weekday())
    else:
        first = f.start.replace(day=1)
    out = []
    at = first
    while at <= f.end:
        out.append(at)
        if f.grain == "day":
            at += timedelta(days=1)
        elif f.grain == "week":
            at += timedelta(days=7)
        else:
            at = (at.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def trend(conn: Conn, f: Filter) -> list[Figures]:
    """Sales per day, ISO week or month over the range, every period shown."""
    rows = {
        row[0]: row
        for row in _grouped(conn, f, f"date_trunc('{f.grain}', d.day)::date")
        if row[0] is not None
    }
    out = []
    for start in periods(f):
        row = rows.get(start)
        figures = (None,) * 7 if row is None else row[2:]
        sales = None if f.by_item else (0 if row is None else int(row[1] or 0))
        out.append(_figures(figures, start.isoformat(), period_label(f.grain, start), sales))
    return out


def by_store(conn: Conn, f: Filter) -> list[Figures]:
    """Each store's figures over the range (every chosen store, with or without sales)."""
    rows = {row[0]: row for row in _grouped(conn, f, "d.store")}
    names = dict(
        conn.execute(
            "SELECT id, COALESCE(name, 'Store ' || id) FROM store WHERE id = ANY(%s)",
            (list(f.stores),),
        ).fetchall()
    )
    out = []
    for store in sorted(f.stores):
        row = rows.get(store)
        figures = (None,) * 7 if row is None else row[2:]
        sales = None if f.by_item else (0 if row is None else int(row[1] or 0))
        out.append(_figures(figures, store, f"{names.get(store, store)} ({store})", sales))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemFigures:
    """One SKU's figures over the range across the chosen stores, with its catalog place
    (key None: the stores' variants HQ cannot map to a SKU)."""

    key: str | None
    sku: str | None
    product: str | None
    category_id: int | None
    category: str | None
    vendor_id: int | None
    vendor: str | None
    figures: tuple[Any, ...]


def items(conn: Conn, f: Filter) -> list[ItemFigures]:
    """Every SKU's figures over the range, in one pass over sales_day (summed per SKU, then
    placed in the catalog): the category, vendor, mover and margin views are all cut from it."""
    params: dict[str, Any] = {}
    rows = conn.execute(
        "SELECT a.sku, min(cv.sku), min(p.name), min(p.category_id), min(c.name),"
        f" min(p.vendor_id), min(x.name), {_ITEM_FIGURES}"
        + _per_item(f, params).format(
            joins=" LEFT JOIN catalog_category c ON c.id = p.category_id"
            " LEFT JOIN catalog_vendor x ON x.id = p.vendor_id"
        )
        + " GROUP BY 1",
        params,
    ).fetchall()
    return [
        ItemFigures(
            key=r[0],
            sku=r[1],
            product=r[2],
            category_id=r[3],
            category=r[4],
            vendor_id=r[5],
            vendor=r[6],
            figures=tuple(r[7:]),
        )
        for r in rows
    ]


def _summed(groups: dict[Any, list[tuple[Any, ...]]]) -> dict[Any, tuple[Any, ...]]:
    return {
        key: tuple(
            sum((v for v in column if v is not None), start=0) for column in zip(*rows, strict=True)
        )
        for key, rows in groups.items()
    }


def _by_catalog(found: list[ItemFigures], which: str) -> list[Figures]:
    groups: dict[tuple[int | None, str | None], list[tuple[Any, ...]]] = {}
    for item in found:
        if which == "category":
            key = (item.category_id, item.category)
        else:
            key = (item.vendor_id, item.vendor)
        groups.setdefault(key, []).append(item.figures)
    out = [
        _figures(sums, "" if ident is None else str(ident), name or "Not in catalog", None)
        for (ident, name), sums in _summed(groups).items()
    ]
    return sorted(out, key=lambda x: (-x.net, x.label))


def by_category(conn: Conn, f: Filter, found: list[ItemFigures] | None = None) -> list[Figures]:
    """Figures per catalog category, best first (uncategorised and unmapped items together)."""
    return _by_catalog(items(conn, f) if found is None else found, "category")


def by_vendor(conn: Conn, f: Filter, found: list[ItemFigures] | None = None) -> list[Figures]:
    """Figures per vendor, best first."""
    return _by_catalog(items(conn, f) if found is None else found, "vendor")


def _per_sku(found: list[ItemFigures]) -> dict[str, tuple[Decimal, int, int, int]]:
    """Per SKU (upper case): units, net, cost, costed net."""
    return {
        i.key: (
            Decimal(i.figures[0] or 0),
            int(i.figures[1] or 0),
            int(i.figures[5] or 0),
            int(i.figures[6] or 0),
        )
        for i in found
        if i.key is not None
    }


def movers(
    conn: Conn, f: Filter, *, limit: int = 10, found: list[ItemFigures] | None = None
) -> tuple[list[Mover], list[Mover]]:
    """The items that sold most units over the range, and the active catalog items that sold
    fewest (none at all first), each with the range before for comparison."""
    now = _per_sku(items(conn, f) if found is None else found)
    before = _per_sku(items(conn, f.previous()))
    params: dict[str, Any] = {}
    clauses = ["v.active", "p.active"]
    if f.category is not None:
        clauses.append("p.category_id = %(category)s")
        params["category"] = f.category
    if f.vendor is not None:
        clauses.append("p.vendor_id = %(vendor)s")
        params["vendor"] = f.vendor
    catalog = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT upper(v.sku), v.sku, p.name, c.name FROM catalog_variant v"
            " JOIN catalog_product p ON p.id = v.product_id"
            " LEFT JOIN catalog_category c ON c.id = p.category_id"
            " WHERE " + " AND ".join(clauses),
            params,
        ).fetchall()
    }

    def mover(key: str) -> Mover:
        sku, product, category = catalog.get(key, (key, key, None))
        units, net, cost, costed = now.get(key, (Decimal(0), 0, 0, 0))
        return Mover(
            sku=sku,
            product=product,
            category=category,
            units=units.normalize() + 0,
            net=net,
            previous_units=before.get(key, (Decimal(0),))[0].normalize() + 0,
            margin_pct=None if costed <= 0 else 100.0 * (costed - cost) / costed,
        )

    top = sorted(
        (k for k in now if now[k][0] > 0 and (k in catalog or not f.by_item)),
        key=lambda k: (-now[k][0], -now[k][1], k),
    )[:limit]
    slow = sorted(
        catalog,
        key=lambda k: (now.get(k, (Decimal(0), 0))[0], now.get(k, (0, 0))[1], k),
    )[:limit]
    return [mover(k) for k in top], [mover(k) for k in slow]


def margin_items(
    conn: Conn, f: Filter, *, limit: int = 20, found: list[ItemFigures] | None = None
) -> list[Figures]:
    """The items with the largest margin over the range."""
    rows = [
        _figures(i.figures, i.key, f"{i.product or i.key} ({i.sku or i.key})", None)
        for i in (items(conn, f) if found is None else found)
        if i.key is not None
    ]
    return sorted(rows, key=lambda x: (-x.margin, x.key))[:limit]


def seasonal(conn: Conn, f: Filter) -> list[SeasonWeek]:
    """The ISO weeks the range touches, each against the same ISO week number a year
    earlier (None: the stores had no sales yet by the end of that week, so no history)."""
    weeks: list[tuple[int, int, date]] = []
    at = f.start - timedelta(days=f.start.weekday())
    while at <= f.end:
        year, week, _ = at.isocalendar()
        weeks.append((year, week, at))
        at += timedelta(days=7)
    if not weeks:
        return []
    # This range's whole ISO weeks, and the same week numbers a year earlier.
    last_first = _same_week(weeks[0][0] - 1, weeks[0][1])
    last_end = _same_week(weeks[-1][0] - 1, weeks[-1][1]) + timedelta(days=6)
    key = "extract(isoyear FROM d.day)::int * 100 + extract(week FROM d.day)::int"
    net: dict[tuple[int, int], int] = {}
    for start, end in ((weeks[0][2], weeks[-1][2] + timedelta(days=6)), (last_first, last_end)):
        part = Filter(stores=f.stores, start=start, end=end, category=f.category, vendor=f.vendor)
        for k, _, *figures in _grouped(conn, part, key):
            net[(k // 100, k % 100)] = int(figures[1] or 0)
    row = conn.execute(
        "SELECT min(first.day) FROM unnest(%s::text[]) AS s(store),"
        " LATERAL (SELECT day FROM sales_store_day WHERE store = s.store"
        "  ORDER BY day LIMIT 1) AS first",
        (list(f.stores),),
    ).fetchone()
    history = row[0] if row else None
    out = []
    for year, week, start in weeks:
        same = _same_week(year - 1, week)
        had_sales = history is not None and history <= same + timedelta(days=6)
        last = net.get((year - 1, week), 0) if had_sales else None
        out.append(
            SeasonWeek(
                week=week,
                label=f"{year}-W{week:02d}",
                start=start,
                net=net.get((year, week), 0),
                last_year=last,
            )
        )
    return out


def _same_week(year: int, week: int) -> date:
    """The Monday of ISO week `week` of `year` (week 53 of a year with 52: its last week)."""
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:
        return date.fromisocalendar(year, 52, 1)


def returns_by_reason(conn: Conn, f: Filter) -> list[ReasonRow]:
    """Returned lines, units and refunds (without tax) per reason code, most refunded first;
    labels from the stores' reason codes."""
    params: dict[str, Any] = {}
    joins = ""
    if f.by_item:
        joins = (
            " JOIN store_variant sv ON sv.store = d.store AND sv.uid = d.variant"
            " JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)"
            " JOIN catalog_product p ON p.id = cv.product_id"
        )
        if f.category is not None:
            joins += " AND p.category_id = %(category)s"
            params["category"] = f.category
        if f.vendor is not None:
            joins += " AND p.vendor_id = %(vendor)s"
            params["vendor"] = f.vendor
    rows = conn.execute(
        "SELECT d.reason, (SELECT r.label FROM store_reason r WHERE r.code = d.reason"
        "  AND r.store = ANY(%(stores)s) ORDER BY r.store LIMIT 1),"
        " sum(d.lines), sum(d.units), sum(d.net) FROM returns_day d"
        + joins
        + _where(f, params)
        + " GROUP BY d.reason ORDER BY sum(d.net) DESC, d.reason",
        params,
    ).fetchall()
    return [
        ReasonRow(
            reason=row[0],
            label=row[1] or row[0].replace("_", " "),
            lines=int(row[2]),
            units=Decimal(row[3]).normalize() + 0,
            net=int(row[4]),
        )
        for row in rows
    ]


# A closed shift's over (+) or short (−): counted cash less the expected drawer, on the
# store's local day of its close.
_OVER_SHORT = """
SELECT z.store, c.opened_by,
    z.counted_cash - (COALESCE(s.opening_float, 0) + COALESCE(c.cash_sales, 0)
        - COALESCE(c.cash_refunds, 0) - COALESCE(c.cash_voided, 0) + COALESCE(c.pay_ins, 0)
        - COALESCE(c.pay_outs, 0)) AS over_short
FROM z_summary z
JOIN rollup_store r ON r.store = z.store
JOIN shift_summary s ON s.shift = z.shift
LEFT JOIN shift_cash c ON c.shift = z.shift
WHERE z.store = ANY(%(stores)s)
    AND z.closed_at >= %(since)s AND z.closed_at < %(until)s
    AND (z.closed_at AT TIME ZONE r.zone)::date BETWEEN %(start)s AND %(end)s
"""


def _window(f: Filter) -> dict[str, Any]:
    """The range's parameters, with the UTC instants around it that any zone's local days
    from `start` to `end` fall within (UTC−12 to UTC+14), for an index to narrow by."""
    return {
        "stores": list(f.stores),
        "start": f.start,
        "end": f.end,
        "since": datetime.combine(f.start - timedelta(days=1), time(), UTC),
        "until": datetime.combine(f.end + timedelta(days=2), time(), UTC),
    }


def cash_over_short(conn: Conn, f: Filter) -> tuple[list[CashRow], list[CashRow]]:
    """Closed shifts' cash over/short over the range: per store, and per store and cashier
    (the staff member who opened the shift), the largest shortfall first."""
    params = _window(f)
    grouped = (
        "SELECT o.store, {who}, count(*), count(*) FILTER (WHERE o.over_short < 0),"
        " COALESCE(sum(o.over_short) FILTER (WHERE o.over_short > 0), 0),"
        " COALESCE(sum(o.over_short) FILTER (WHERE o.over_short < 0), 0), {name}"
        f" FROM ({_OVER_SHORT}) AS o {{join}} GROUP BY 1, 2, 7 ORDER BY 6, 1, 2"
    )
    stores = conn.execute(
        grouped.format(
            who="NULL::text",
            name="COALESCE(st.name, 'Store ' || o.store)",
            join="JOIN store st ON st.id = o.store",
        ),
        params,
    ).fetchall()
    cashiers = conn.execute(
        grouped.format(
            who="o.opened_by",
            name="COALESCE(sf.name, o.opened_by, 'unknown')",
            join="LEFT JOIN store_staff sf ON sf.store = o.store AND sf.id = o.opened_by",
        ),
        params,
    ).fetchall()

    def rows(found: list[tuple[Any, ...]]) -> list[CashRow]:
        return [
            CashRow(
                store=r[0],
                cashier=r[1],
                name=r[6],
                shifts=int(r[2]),
                short_shifts=int(r[3]),
                over=int(r[4]),
                short=int(r[5]),
            )
            for r in found
        ]

    return rows(stores), rows(cashiers)


def has_overrides(conn: Conn) -> bool:
    """Whether the override log (migration 0020) is there."""
    row = conn.execute("SELECT to_regclass('override_fact') IS NOT NULL").fetchone()
    return bool(row and row[0])


def overrides_by_staff(conn: Conn, f: Filter) -> list[OverrideRow]:
    """Overrides over the range by the staff member who asked for them and, separately, who
    approved them, by action (the store's local day of the override)."""
    rows = conn.execute(
        "SELECT o.store, w.staff, COALESCE(sf.name, w.staff), w.role, o.action, count(*),"
        " COALESCE(sum(o.amount), 0)"
        " FROM override_fact o LEFT JOIN rollup_store r ON r.store = o.store"
        " CROSS JOIN LATERAL (VALUES (o.requester, 'asked'), (o.approver, 'approved'))"
        "  AS w(staff, role)"
        " LEFT JOIN store_staff sf ON sf.store = o.store AND sf.id = w.staff"
        " WHERE o.store = ANY(%(stores)s) AND w.staff IS NOT NULL"
        " AND o.at >= %(since)s AND o.at < %(until)s"
        " AND (o.at AT TIME ZONE COALESCE(r.zone, store_zone(o.store)))::date"
        "  BETWEEN %(start)s AND %(end)s"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY count(*) DESC, 1, 2, 4, 5",
        _window(f),
    ).fetchall()
    return [
        OverrideRow(
            store=r[0],
            staff=r[1],
            name=r[2],
            role=r[3],
            action=r[4],
            count=int(r[5]),
            amount=int(r[6]),
        )
        for r in rows
    ]


def zones(conn: Conn, stores: tuple[str, ...]) -> dict[str, str]:
    """The zone each store's days are counted in."""
    return dict(
        conn.execute(
            "SELECT s.id, COALESCE(r.zone, store_zone(s.id)) FROM store s"
            " LEFT JOIN rollup_store r ON r.store = s.id WHERE s.id = ANY(%s)",
            (list(stores),),
        ).fetchall()
    )
