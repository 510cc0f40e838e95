"""The Stock page: variants × stores with on-hand and days of cover, each store's freshness,
filters, paging, and the same grid as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from flask import Response, request

from cloud import stock_grid
from cloud.hq.core import EVERYONE, db, hq_route, me, page, requested_store, scope_stores, settings
from webui.errors import Invalid
from webui.spreadsheet import csv_cell


def _whole(name: str, *, low: int, high: int) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise Invalid(
            f"{name} must be a whole number from {low}",
            code="invalid_filter",
            details={"field": name},
        )
    return int(raw)


def _filter() -> tuple[stock_grid.StockFilter, int]:
    picked = requested_store()
    stores = (picked,) if picked else tuple(s for s, _ in scope_stores(me().user))
    below = request.args.get("below", "")
    if below not in ("", "0", "1"):
        raise Invalid("below is 1 or 0", code="invalid_filter", details={"field": "below"})
    text = (request.args.get("q") or "").strip()
    if len(text) > 100:
        raise Invalid(
            "search text is at most 100 characters", code="invalid_filter", details={"field": "q"}
        )
    return (
        stock_grid.StockFilter(
            stores=stores,
            category=_whole("category", low=1, high=2**62),
            vendor=_whole("vendor", low=1, high=2**62),
            below_reorder=below == "1",
            text=text,
        ),
        _whole("page", low=1, high=1_000_000) or 1,
    )


@hq_route("/stock", roles=EVERYONE)
def stock() -> Response:
    """The grid, a page at a time."""
    wanted, page_no = _filter()
    config = settings()
    conn = db()
    grid = stock_grid.stock_page(
        conn,
        wanted,
        page=page_no,
        page_size=config.page_size,
        velocity_days=config.velocity_days,
        stale_after=timedelta(minutes=config.stale_after_minutes),
    )
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return page(
        "hq/stock.html",
        grid=grid,
        wanted=wanted,
        picked=requested_store(),
        args=args,
        categories=stock_grid.categories(conn),
        vendors=stock_grid.vendors(conn),
        velocity_days=config.velocity_days,
        stale_minutes=config.stale_after_minutes,
    )


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.isoformat(timespec="seconds")


@hq_route("/stock.csv", roles=EVERYONE)
def stock_csv() -> Response:
    """Every row the filters match, one line per SKU, three columns per store."""
    wanted, _ = _filter()
    config = settings()
    grid = stock_grid.stock_page(
        db(),
        wanted,
        page=1,
        page_size=None,
        velocity_days=config.velocity_days,
        stale_after=timedelta(minutes=config.stale_after_minutes),
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["sku", "product", "options", "category", "vendor", "reorder_point"]
    for column in grid.columns:
        header += [
            f"{column.store} on_hand",
            f"{column.store} days_of_cover",
            f"{column.store} last_event_at",
        ]
    header += ["total on_hand", "total days_of_cover", "in_transit"]
    writer.writerow(header)
    for row in grid.rows:
        line: list[str | int] = [
            csv_cell(v)
            for v in (
                row.sku,
                row.product,
                row.options,
                row.category,
                row.vendor,
                row.reorder_point,
            )
        ]
        for column in grid.columns:
            cell = row.cells[column.store]
            line += [
                csv_cell(cell.on_hand),
                "" if cell.days_of_cover is None else f"{cell.days_of_cover:.1f}",
                _iso(column.last_event_at),
            ]
        line += [
            csv_cell(row.total_on_hand),
            "" if row.total_days_of_cover is None else f"{row.total_days_of_cover:.1f}",
            row.in_transit,
        ]
        writer.writerow(line)
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="stock-{stamp}.csv"'},
    )
