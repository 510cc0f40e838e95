"""Analytics rollups kept incrementally by the ingest transaction (decisions.md §59).

`project` is called by cloud/ingest.py in every batch's transaction, after the batch's
sale_fact rows are written, and adds what the batch's new events change to the rollups of
migration 0021 in ONE statement (data-modifying CTEs, the rows passed as arrays): sales per
store, local day and variant (`sales_day`), per store and day (`sales_store_day`), returned
lines by reason (`returns_day`) and each shift's cash (`shift_cash`). Ingest projects an event
once only (the cursor and the event's primary key make ingest exactly once), so adding is
safe; `rebuild` recomputes a store's rollups, or all, from sale_fact and the event log with
the SQL function of the migration (its backfill) and must agree with the sum of the batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from protocol.bodies import (
    CashMoved,
    ReturnCompleted,
    SaleCompleted,
    SaleVoided,
    ShiftClosed,
    ShiftOpened,
)

if TYPE_CHECKING:
    from cloud.ingest import Item, Projected

Conn = psycopg.Connection[Any]

# The facts' zone: the one the store's rows were made in, else the store's own (store_zone).
_ZONE = (
    "z AS (SELECT COALESCE((SELECT zone FROM rollup_store WHERE store = %(store)s),"
    " store_zone(%(store)s)) AS zone),"
    " zs AS (INSERT INTO rollup_store (store, zone) SELECT %(store)s, zone FROM z"
    " ON CONFLICT (store) DO NOTHING)"
)

# A sale_fact row's figures as the rollups add them (f: the facts with day and cost).
_SUMS = (
    "sum(CASE WHEN f.kind <> 'return' THEN f.qty::numeric / f.scale ELSE 0 END),"
    " sum(CASE WHEN f.kind <> 'return' THEN f.net ELSE 0 END),"
    " sum(CASE WHEN f.kind = 'return' THEN -f.qty::numeric / f.scale ELSE 0 END),"
    " sum(CASE WHEN f.kind = 'return' THEN -f.net ELSE 0 END),"
    " sum(f.tax), sum(f.discount),"
    " sum(COALESCE(round(f.cost * f.qty::numeric / f.scale), 0)),"
    " sum(CASE WHEN f.cost IS NULL THEN 0 ELSE f.net END)"
)
_ADDED = (
    " sold_units = {t}.sold_units + excluded.sold_units,"
    " sold_net = {t}.sold_net + excluded.sold_net,"
    " returned_units = {t}.returned_units + excluded.returned_units,"
    " returned_net = {t}.returned_net + excluded.returned_net,"
    " tax = {t}.tax + excluded.tax, discount = {t}.discount + excluded.discount,"
    " cost = {t}.cost + excluded.cost, costed_net = {t}.costed_net + excluded.costed_net"
)
_FIGURES = "sold_units, sold_net, returned_units, returned_net, tax, discount, cost, costed_net"

_FACTS = (
    "f AS (SELECT t.event, t.kind, (t.at AT TIME ZONE z.zone)::date AS day, t.variant, t.qty,"
    " t.scale, t.net, t.tax, t.discount, cv.cost, upper(sv.sku) AS sku"
    " FROM unnest(%(f_event)s::uuid[], %(f_kind)s::text[], %(f_at)s::timestamptz[],"
    "  %(f_variant)s::uuid[], %(f_qty)s::bigint[], %(f_scale)s::integer[], %(f_net)s::bigint[],"
    "  %(f_tax)s::bigint[], %(f_discount)s::bigint[])"
    "  AS t(event, kind, at, variant, qty, scale, net, tax, discount)"
    " CROSS JOIN z"
    " LEFT JOIN store_variant sv ON sv.store = %(store)s AND sv.uid = t.variant"
    " LEFT JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)),"
    f" sd AS (INSERT INTO sales_day (store, day, variant, sku, {_FIGURES})"
    f" SELECT %(store)s, f.day, f.variant, max(f.sku), {_SUMS} FROM f GROUP BY f.day, f.variant"
    " ON CONFLICT (store, day, variant) DO UPDATE SET"
    " sku = COALESCE(sales_day.sku, excluded.sku)," + _ADDED.format(t="sales_day") + "),"
    f" ssd AS (INSERT INTO sales_store_day (store, day, sales, {_FIGURES})"
    " SELECT %(store)s, f.day,"
    " count(DISTINCT f.event) FILTER (WHERE f.kind = 'sale')"
    " - count(DISTINCT f.event) FILTER (WHERE f.kind = 'void'),"
    f" {_SUMS} FROM f GROUP BY f.day"
    " ON CONFLICT (store, day) DO UPDATE SET sales = sales_store_day.sales + excluded.sales,"
    + _ADDED.format(t="sales_store_day")
    + ")"
)

_RETURNS = (
    "rd AS (INSERT INTO returns_day (store, day, reason, variant, lines, units, net)"
    " SELECT %(store)s, (t.at AT TIME ZONE z.zone)::date, t.reason, t.variant, count(*),"
    " sum(t.qty::numeric / t.scale), sum(t.net)"
    " FROM unnest(%(r_at)s::timestamptz[], %(r_reason)s::text[], %(r_variant)s::uuid[],"
    "  %(r_qty)s::bigint[], %(r_scale)s::integer[], %(r_net)s::bigint[])"
    "  AS t(at, reason, variant, qty, scale, net) CROSS JOIN z"
    " GROUP BY 2, 3, 4"
    " ON CONFLICT (store, day, reason, variant) DO UPDATE SET"
    " lines = returns_day.lines + excluded.lines, units = returns_day.units + excluded.units,"
    " net = returns_day.net + excluded.net)"
)

# Shifts: what the batch's own events say, plus the cash a post-void gives back, read from
# the voided sale (in this batch or an earlier one: ingest wrote both to `event` already).
_SHIFTS = (
    "sc AS (INSERT INTO shift_cash (shift, store, register, opened_by, closed_by, cash_sales,"
    " cash_refunds, cash_voided, pay_ins, pay_outs)"
    " SELECT t.shift, %(store)s, max(t.register), max(t.opened_by), max(t.closed_by),"
    " sum(t.cash_sales), sum(t.cash_refunds), sum(t.cash_voided), sum(t.pay_ins),"
    " sum(t.pay_outs) FROM ("
    "  SELECT * FROM unnest(%(s_shift)s::uuid[], %(s_register)s::text[],"
    "   %(s_opened_by)s::text[], %(s_closed_by)s::text[], %(s_sales)s::bigint[],"
    "   %(s_refunds)s::bigint[], %(s_voided)s::bigint[], %(s_in)s::bigint[],"
    "   %(s_out)s::bigint[])"
    "  UNION ALL"
    "  SELECT (e.envelope #>> '{body,shift}')::uuid, e.origin, NULL, NULL, 0, 0,"
    "   envelope_cash(e.envelope), 0, 0"
    "  FROM event e WHERE e.id = ANY(%(s_voids)s::uuid[]) AND e.store = %(store)s"
    "   AND e.envelope #>> '{body,shift}' IS NOT NULL AND envelope_cash(e.envelope) <> 0"
    " ) AS t(shift, register, opened_by, closed_by, cash_sales, cash_refunds, cash_voided,"
    "   pay_ins, pay_outs)"
    " GROUP BY t.shift"
    " ON CONFLICT (shift) DO UPDATE SET"
    " register = COALESCE(shift_cash.register, excluded.register),"
    " opened_by = COALESCE(excluded.opened_by, shift_cash.opened_by),"
    " closed_by = COALESCE(excluded.closed_by, shift_cash.closed_by),"
    " cash_sales = shift_cash.cash_sales + excluded.cash_sales,"
    " cash_refunds = shift_cash.cash_refunds + excluded.cash_refunds,"
    " cash_voided = shift_cash.cash_voided + excluded.cash_voided,"
    " pay_ins = shift_cash.pay_ins + excluded.pay_ins,"
    " pay_outs = shift_cash.pay_outs + excluded.pay_outs)"
)

_SHIFT_FIGURES = ("cash_sales", "cash_refunds", "cash_voided", "pay_ins", "pay_outs")


def _cash(tenders: Sequence[Any]) -> int:
    return sum(t.amount for t in tenders if t.kind == "cash")


def _shifts(items: Sequence[Item]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per shift, what the batch's events add to its cash (and who opened and closed it);
    the sales the batch's post-voids undo."""
    shifts: dict[str, dict[str, Any]] = defaultdict(dict)
    voids: list[str] = []

    def add(shift: str, item: Item, name: str, value: int) -> None:
        if not value:
            return  # a card sale: nothing for the drawer, no row to touch
        row = shifts[shift]
        row.setdefault("register", item.envelope.origin)
        row[name] = row.get(name, 0) + value

    def staff(shift: str, item: Item, name: str) -> None:
        row = shifts[shift]
        row.setdefault("register", item.envelope.origin)
        row[name] = item.envelope.actor

    for item in items:
        body = item.body
        if isinstance(body, SaleCompleted):
            add(body.shift, item, "cash_sales", _cash(body.tenders))
        elif isinstance(body, ReturnCompleted):
            add(body.shift, item, "cash_refunds", _cash(body.tenders))
        elif isinstance(body, CashMoved):
            if body.kind != "no_sale":
                add(
                    body.shift,
                    item,
                    "pay_ins" if body.kind == "pay_in" else "pay_outs",
                    body.amount,
                )
        elif isinstance(body, ShiftOpened):
            staff(body.shift, item, "opened_by")
        elif isinstance(body, ShiftClosed):
            staff(body.shift, item, "closed_by")
        elif isinstance(body, SaleVoided):
            voids.append(body.sale)
    return shifts, voids


def project(conn: Conn, store: str, items: Sequence[Item], out: Projected) -> None:
    """Add the batch's new facts, returns and shift cash to the rollups, in one statement."""
    parts: list[str] = []
    params: dict[str, Any] = {"store": store}
    if out.facts:
        # A fact row: event, line, kind, store, register, receipt, at, variant, qty, qty_scale,
        # net, tax, discount, currency.
        columns = list(zip(*out.facts, strict=True))
        for name, index in (
            ("event", 0),
            ("kind", 2),
            ("at", 6),
            ("variant", 7),
            ("qty", 8),
            ("scale", 9),
            ("net", 10),
            ("tax", 11),
            ("discount", 12),
        ):
            params[f"f_{name}"] = list(columns[index])
        parts.append(_FACTS)
    returned = [
        (
            item.envelope.at,
            line.reason,
            line.variant,
            line.qty,
            line.qty_scale,
            line.refund - line.tax,
        )
        for item in items
        if isinstance(item.body, ReturnCompleted)
        for line in item.body.lines
    ]
    if returned:
        for name, column in zip(
            ("at", "reason", "variant", "qty", "scale", "net"),
            zip(*returned, strict=True),
            strict=True,
        ):
            params[f"r_{name}"] = list(column)
        parts.append(_RETURNS)
    shifts, voids = _shifts(items)
    if shifts or voids:
        ordered = sorted(shifts.items())
        params["s_shift"] = [shift for shift, _ in ordered]
        for name in ("register", "opened_by", "closed_by"):
            params[f"s_{name}"] = [row.get(name) for _, row in ordered]
        for name, key in zip(
            ("sales", "refunds", "voided", "in", "out"), _SHIFT_FIGURES, strict=True
        ):
            params[f"s_{name}"] = [row.get(key, 0) for _, row in ordered]
        params["s_voids"] = voids
        parts.append(_SHIFTS)
    if not parts:
        return
    statement = "WITH " + _ZONE + ", " + ", ".join(parts) + " SELECT 1"
    conn.execute(" ".join(statement.split()), params)


def rebuild(conn: Conn, store: str | None = None) -> None:
    """Recompute the rollups of `store` (None: every store) from sale_fact and the event log,
    in the store's time zone as it is now (call it in a transaction of its own, or inside
    the caller's)."""
    conn.execute("SELECT rollup_rebuild(%s)", (store,))


def zones_due(conn: Conn) -> list[tuple[str, str, str]]:
    """Stores whose rollups were made in another zone than the store's now: (store, made in,
    now); `rebuild` for each puts their days right."""
    return [
        (row[0], row[1], row[2])
        for row in conn.execute(
            "SELECT store, zone, store_zone(store) FROM rollup_store"
            " WHERE zone <> store_zone(store) ORDER BY store"
        )
    ]
