"""Low-stock alerts, raised as events are ingested (issue 7; decisions.md §58).

`project` is called by cloud/ingest.py in every batch's transaction after on_hand has moved.
For the SKUs whose stock this batch moved in the store (a store's variant ids map to SKUs
through store_variant; the chain's key is the SKU, §43), one statement reads on-hand (summed
over the store's ids for the SKU), the trailing sales rate, the catalog's reorder point, the
vendor's lead time and whether an alert is open; `cloud.reorder.is_low` judges each SKU (on-hand
at or below the reorder point, or fewer days of cover than the lead time). Only when something
changes does a second statement run: a SKU newly low gets an alert (kind 'low_stock'), one no
longer low (or no longer in the active catalog) has its open alert resolved. An open alert is
not rewritten while the SKU stays low (pages read the live on-hand beside it), so a busy store
costs one read per batch. A partial unique index (migration 0019) keeps one open alert per
store and SKU, whatever runs at once.

The read is shaped so that its plan does not depend much on statistics (a fresh database has
none, and join orders guessed from empty tables took seconds per batch): materialised steps
over the batch's ids, on-hand and 28 days of sales each read with one index scan over all the
ids at once (`= ANY` of an array as the index condition), joined by hash, then one catalog
lookup per SKU. The sales scan keeps the store test outside an OFFSET 0 fence: with it inside,
an unanalysed sale_fact was read through its (store, at) index, every sale of the store. An
earlier shape, a correlated subquery per SKU, was as fast on an unanalysed database and half
as fast on an analysed one (decisions.md §58 has the figures).

The rate is the trailing `VELOCITY_DAYS` of sales (sold minus post-voided, as the reorder
engine reads demand; returns are stock coming back) up to the batch's latest movement, not the
wall clock, so a backlog replayed late judges each day as it was. A batch that moved no stock
returns before any statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from cloud.reorder import DEFAULT_LEAD_TIME_DAYS, is_low

if TYPE_CHECKING:
    from cloud.ingest import Item, Projected

Conn = psycopg.Connection[Any]

KIND = "low_stock"
VELOCITY_DAYS = 28
# From this many variant ids in a batch, JIT is turned off for the read (its estimated cost is
# about 54 per SKU against jit_above_cost's 100,000).
JIT_OFF_FROM = 1000

_READ = f"""
WITH t AS MATERIALIZED (
    SELECT upper(sv.sku) AS key, min(sv.uid::text) AS variant
    FROM unnest(%(uids)s::uuid[]) AS u (uid)
    JOIN store_variant sv ON sv.store = %(store)s AND sv.uid = u.uid GROUP BY 1
), ids AS MATERIALIZED (
    SELECT t.key, t.variant, a.uid FROM t CROSS JOIN LATERAL (SELECT a.uid FROM store_variant a
        WHERE a.store = %(store)s AND upper(a.sku) = t.key OFFSET 0) a
), sold AS MATERIALIZED (
    SELECT f.variant, sum(f.qty) AS qty
    FROM (SELECT s.variant, s.qty, s.store, s.kind FROM sale_fact s
        WHERE s.variant = ANY ((SELECT array_agg(uid) FROM ids)::uuid[])
            AND s.at > %(at)s::timestamptz - interval '{VELOCITY_DAYS} days'
            AND s.at <= %(at)s::timestamptz
        OFFSET 0) f
    WHERE f.store = %(store)s AND f.kind IN ('sale', 'void') GROUP BY 1
), stock AS MATERIALIZED (
    SELECT o.variant, o.qty FROM on_hand o
    WHERE o.store = %(store)s AND o.variant = ANY ((SELECT array_agg(uid) FROM ids)::uuid[])
), per_key AS MATERIALIZED (
    SELECT i.key, min(i.variant) AS variant, COALESCE(sum(s.qty), 0) AS on_hand,
        COALESCE(sum(d.qty), 0) AS sold
    FROM ids i LEFT JOIN stock s ON s.variant = i.uid LEFT JOIN sold d ON d.variant = i.uid
    GROUP BY 1
)
SELECT k.key, k.variant, v.sku, v.reorder_point, COALESCE(ve.lead_time_days, %(lead)s),
    k.on_hand, k.sold,
    EXISTS (SELECT 1 FROM alert a WHERE a.kind = '{KIND}' AND a.store = %(store)s
        AND a.resolved_at IS NULL AND upper(a.details ->> 'sku') = k.key)
FROM per_key k
LEFT JOIN (catalog_variant v JOIN catalog_product p ON p.id = v.product_id AND p.active
    LEFT JOIN catalog_vendor ve ON ve.id = p.vendor_id) ON upper(v.sku) = k.key AND v.active
"""

# Resolve what recovered, raise what is newly low (DO NOTHING should another open one exist).
_WRITE = f"""
WITH resolved AS (
    UPDATE alert a SET resolved_at = now(),
        details = a.details || jsonb_build_object('resolved_on_hand', x.on_hand)
    FROM unnest(%(keys)s::text[], %(stock)s::bigint[]) AS x (key, on_hand)
    WHERE a.kind = '{KIND}' AND a.store = %(store)s AND a.resolved_at IS NULL
        AND upper(a.details ->> 'sku') = x.key
    RETURNING 1
)
INSERT INTO alert (kind, store, details)
SELECT '{KIND}', %(store)s, d FROM jsonb_array_elements(%(raise)s::jsonb) AS d
ON CONFLICT (store, upper(details ->> 'sku')) WHERE kind = '{KIND}' AND resolved_at IS NULL
DO NOTHING
"""


_READ_ONE_LINE = " ".join(_READ.split())
_WRITE_ONE_LINE = " ".join(_WRITE.split())


def project(conn: Conn, store: str, items: Sequence[Item], out: Projected) -> None:
    """Raise or resolve the store's low-stock alerts for the SKUs this batch moved."""
    if not out.ledger:
        return
    # A ledger row: event, line, store, variant, kind, qty, wall, counter, node, origin, at, …
    uids = sorted({str(row[3]) for row in out.ledger})
    # Every `at` is format_at's fixed-width UTC text, so the greatest string is the latest.
    at = max(str(row[10]) for row in out.ledger)
    params = {"store": store, "uids": uids, "at": at, "lead": DEFAULT_LEAD_TIME_DAYS}
    # Never prepared: psycopg prepares a statement on its fifth run, and PostgreSQL then tries
    # a generic plan, blind to how many ids the batch has; one took 0.5-1 s a batch instead
    # of 50 ms from the tenth batch of a backlog on.
    if len(uids) < JIT_OFF_FROM:
        rows = conn.execute(_READ_ONE_LINE, params, prepare=False).fetchall()
    else:
        # A backlog's batch touches thousands of SKUs, which lifts the read's estimated cost
        # over jit_above_cost: compiling it took longer than running it (60 ms a batch). Off
        # for this read only, then back as it was.
        jit = conn.execute(
            "SELECT current_setting('jit'), set_config('jit', 'off', true)"
        ).fetchone()
        rows = conn.execute(_READ_ONE_LINE, params, prepare=False).fetchall()
        conn.execute("SELECT set_config('jit', %s, true)", (jit[0] if jit else "on",))
    raise_: list[dict[str, Any]] = []
    keys: list[str] = []
    stock: list[int] = []
    for key, variant, sku, point, lead, on_hand, sold, is_open in rows:
        per_day = max(int(sold), 0) / VELOCITY_DAYS
        low = sku is not None and is_low(int(on_hand), point, per_day, lead)
        if low and not is_open:
            raise_.append(
                {
                    "sku": sku,
                    "variant": variant,
                    "on_hand": int(on_hand),
                    "reorder_point": point,
                    "lead_time_days": lead,
                    "per_day": round(per_day, 2),
                    "cover_days": round(max(int(on_hand), 0) / per_day, 1) if per_day else None,
                    "at": at,
                }
            )
        elif is_open and not low:
            keys.append(key)
            stock.append(int(on_hand))
    if raise_ or keys:
        conn.execute(
            _WRITE_ONE_LINE,
            {"store": store, "keys": keys, "stock": stock, "raise": Jsonb(raise_)},
            prepare=False,
        )


def open_alerts(conn: Conn, stores: Sequence[str]) -> list[dict[str, Any]]:
    """The open low-stock alerts of these stores with the SKU's product, category, vendor and
    on-hand now, by store and SKU (for the dashboard and the digest)."""
    rows = conn.execute(
        "SELECT a.id, a.store, COALESCE(s.name, 'Store ' || a.store), a.details, a.raised_at,"
        " p.name, c.name, ve.name, (SELECT COALESCE(sum(o.qty), 0) FROM store_variant sv"
        "   JOIN on_hand o ON o.store = sv.store AND o.variant = sv.uid"
        "   WHERE sv.store = a.store AND upper(sv.sku) = upper(a.details ->> 'sku'))"
        " FROM alert a JOIN store s ON s.id = a.store"
        " LEFT JOIN catalog_variant v ON upper(v.sku) = upper(a.details ->> 'sku')"
        " LEFT JOIN catalog_product p ON p.id = v.product_id"
        " LEFT JOIN catalog_category c ON c.id = p.category_id"
        " LEFT JOIN catalog_vendor ve ON ve.id = p.vendor_id"
        " WHERE a.kind = %s AND a.resolved_at IS NULL AND a.store = ANY(%s)"
        " ORDER BY a.store, upper(a.details ->> 'sku')",
        (KIND, list(stores)),
    ).fetchall()
    return [
        {
            "id": r[0],
            "store": r[1],
            "store_name": r[2],
            "sku": r[3].get("sku"),
            # Now, not when it was raised (an open alert is not rewritten while low).
            "on_hand": int(r[8]),
            "raised_on_hand": r[3].get("on_hand"),
            "reorder_point": r[3].get("reorder_point"),
            "cover_days": r[3].get("cover_days"),
            "lead_time_days": r[3].get("lead_time_days"),
            "raised_at": r[4],
            "product": r[5],
            "category": r[6],
            "vendor": r[7],
        }
        for r in rows
    ]
