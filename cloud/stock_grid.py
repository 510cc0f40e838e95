"""HQ's live stock grid: catalog variants × stores with on-hand, days of cover and each store's
freshness, filtered by category, vendor and below reorder point, a page at a time.

The chain's key is the SKU (decisions.md §43): a store's on_hand rows name its own variant ids,
which store_variant maps to SKUs. A store that has not reported a SKU (no store_variant row)
shows no figure, which is not the same as 0. Days of cover is on-hand over the store's trailing
daily sales (sale_fact: sales less returns and voids over `velocity_days`). In transit is what
other stores have shipped to a store on transfers it has not received yet (cloud/transfers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from cloud import transfers


@dataclass(frozen=True, slots=True, kw_only=True)
class StockFilter:
    """What the grid shows: the stores' columns and the rows' filters."""

    stores: tuple[str, ...]
    category: int | None = None
    vendor: int | None = None
    below_reorder: bool = False
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One store's figures for one SKU (on_hand None: the store has not reported it)."""

    on_hand: int | None
    sold: int
    days_of_cover: float | None
    below_reorder: bool
    # Shipped to this store on transfers it has not received yet.
    in_transit: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StockRow:
    """One variant across the stores."""

    sku: str
    product: str
    options: str
    category: str | None
    vendor: str | None
    reorder_point: int | None
    cells: dict[str, Cell]
    total_on_hand: int | None
    total_days_of_cover: float | None
    in_transit: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreColumn:
    """A store's column: its name and how fresh its figures are."""

    store: str
    name: str
    last_event_at: datetime | None
    stale: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StockPage:
    """One page of the grid."""

    columns: list[StoreColumn]
    rows: list[StockRow]
    total_rows: int
    page: int
    pages: int


def _where(f: StockFilter) -> tuple[str, dict[str, Any]]:
    clauses = ["v.active", "p.active"]
    params: dict[str, Any] = {"stores": list(f.stores)}
    if f.category is not None:
        clauses.append("p.category_id = %(category)s")
        params["category"] = f.category
    if f.vendor is not None:
        clauses.append("p.vendor_id = %(vendor)s")
        params["vendor"] = f.vendor
    if f.text:
        clauses.append("(v.sku ILIKE %(text)s OR p.name ILIKE %(text)s)")
        params["text"] = (
            "%" + f.text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        )
    if f.below_reorder:
        # At least one chosen store holds no more than the reorder point (a store that has
        # reported the SKU and has no on_hand row holds 0).
        clauses.append(
            "v.reorder_point IS NOT NULL AND EXISTS (SELECT 1 FROM store_variant sv"
            " LEFT JOIN on_hand o ON o.store = sv.store AND o.variant = sv.uid"
            " WHERE upper(sv.sku) = upper(v.sku) AND sv.store = ANY(%(stores)s)"
            " GROUP BY sv.store HAVING COALESCE(sum(o.qty), 0) <= v.reorder_point)"
        )
    return " AND ".join(clauses), params


_FROM = (
    " FROM catalog_variant v JOIN catalog_product p ON p.id = v.product_id"
    " LEFT JOIN catalog_category c ON c.id = p.category_id"
    " LEFT JOIN catalog_vendor d ON d.id = p.vendor_id"
)


def store_columns(
    conn: psycopg.Connection[Any], stores: list[str], *, stale_after: timedelta
) -> list[StoreColumn]:
    """The stores' names and freshness (when their last event arrived)."""
    rows = conn.execute(
        "SELECT s.id, COALESCE(s.name, 'Store ' || s.id), e.received_at,"
        " e.received_at IS NULL OR e.received_at < now() - %(stale)s"
        " FROM store s LEFT JOIN LATERAL (SELECT received_at FROM event"
        "   WHERE event.store = s.id ORDER BY store_seq DESC LIMIT 1) e ON true"
        " WHERE s.id = ANY(%(stores)s) ORDER BY s.id",
        {"stores": stores, "stale": stale_after},
    ).fetchall()
    return [StoreColumn(store=r[0], name=r[1], last_event_at=r[2], stale=r[3]) for r in rows]


def stock_page(
    conn: psycopg.Connection[Any],
    f: StockFilter,
    *,
    page: int,
    page_size: int | None,
    velocity_days: int,
    stale_after: timedelta,
) -> StockPage:
    """One page of the grid (page_size None: every row, for the CSV)."""
    columns = store_columns(conn, list(f.stores), stale_after=stale_after)
    where, params = _where(f)
    total = conn.execute("SELECT count(*)" + _FROM + " WHERE " + where, params).fetchone()
    total_rows = int(total[0]) if total else 0
    pages = 1 if page_size is None else max(1, -(-total_rows // page_size))
    page = min(max(1, page), pages)
    limit = ""
    if page_size is not None:
        limit = " LIMIT %(limit)s OFFSET %(offset)s"
        params.update(limit=page_size, offset=(page - 1) * page_size)
    variants = conn.execute(
        "SELECT upper(v.sku), v.sku, p.name, v.options, c.name, d.name, v.reorder_point"
        + _FROM
        + " WHERE "
        + where
        + " ORDER BY p.name, v.sku"
        + limit,
        params,
    ).fetchall()
    keys = [r[0] for r in variants]
    stores = [c.store for c in columns]
    on_hand: dict[tuple[str, str], int] = {}
    sold: dict[tuple[str, str], int] = {}
    if keys and stores:
        for store, key, qty in conn.execute(
            "SELECT sv.store, upper(sv.sku), COALESCE(sum(o.qty), 0) FROM store_variant sv"
            " LEFT JOIN on_hand o ON o.store = sv.store AND o.variant = sv.uid"
            " WHERE upper(sv.sku) = ANY(%s) AND sv.store = ANY(%s) GROUP BY 1, 2",
            (keys, stores),
        ):
            on_hand[(store, key)] = int(qty)
        for store, key, qty in conn.execute(
            "SELECT f.store, upper(sv.sku), sum(f.qty) FROM store_variant sv"
            " JOIN sale_fact f ON f.store = sv.store AND f.variant = sv.uid"
            " WHERE upper(sv.sku) = ANY(%s) AND sv.store = ANY(%s)"
            " AND f.at >= now() - %s GROUP BY 1, 2",
            (keys, stores, timedelta(days=velocity_days)),
        ):
            sold[(store, key)] = int(qty)
    transit = transfers.in_transit(conn, stores, keys)
    rows = []
    for key, sku, product, options, category, vendor, reorder_point in variants:
        cells = {}
        for store in stores:
            qty = on_hand.get((store, key))
            units = sold.get((store, key), 0)
            cells[store] = Cell(
                on_hand=qty,
                sold=units,
                days_of_cover=cover(qty, units, velocity_days),
                below_reorder=reorder_point is not None
                and qty is not None
                and qty <= reorder_point,
                in_transit=transit.get((store, key), 0),
            )
        known = [c.on_hand for c in cells.values() if c.on_hand is not None]
        total_on_hand = sum(known) if known else None
        rows.append(
            StockRow(
                sku=sku,
                product=product,
                options=" / ".join(f"{name}: {value}" for name, value in options or []),
                category=category,
                vendor=vendor,
                reorder_point=reorder_point,
                cells=cells,
                total_on_hand=total_on_hand,
                total_days_of_cover=cover(
                    total_on_hand, sum(c.sold for c in cells.values()), velocity_days
                ),
                in_transit=sum(c.in_transit for c in cells.values()),
            )
        )
    return StockPage(columns=columns, rows=rows, total_rows=total_rows, page=page, pages=pages)


def cover(on_hand: int | None, sold: int, days: int) -> float | None:
    """Days the stock lasts at the trailing rate (None: unknown, or nothing sold lately)."""
    if on_hand is None or sold <= 0:
        return None
    return max(0, on_hand) / (sold / days)


def categories(conn: psycopg.Connection[Any]) -> list[tuple[int, str]]:
    """The catalog's active categories, by name."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT id, name FROM catalog_category WHERE active ORDER BY lower(name)"
        ).fetchall()
    ]


def vendors(conn: psycopg.Connection[Any]) -> list[tuple[int, str]]:
    """The catalog's active vendors, by name."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT id, name FROM catalog_vendor WHERE active ORDER BY lower(name)"
        ).fetchall()
    ]
