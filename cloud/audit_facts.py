"""Audit facts derived on ingest (decisions.md §60): the chain's override log, and returns
beyond what was sold, counted across every store.

`project` runs in each batch's transaction (cloud/ingest.py), after the batch's events are
inserted, with only the events new to the cloud, so it is idempotent: a batch sent again
projects nothing.

Overrides. One `override_fact` row per approval. An override.granted event is the approval's
record (requester, approver, action, amount, reason, offline). An event that carries an
approval in its envelope (`override`) marks the approval used (`used_by`); when the cloud
holds no override.granted for it, the envelope's own facts make the row (`source`
'envelope', no reason or amount), and the override.granted replaces that row if it comes.

Over-returns. A return.completed naming its original receipt adds its lines to what every
store has returned of that receipt's lines; when a line's returns, chain-wide, come to more
than the sale sold (nothing, if the sale was post-voided), an alert of kind 'over_return' is
raised on the returning store. It happens when two stores each take back the last unit while
cut off from the cloud, or a register replays an offline return its appliance flagged. A
cross-store return needs the cloud's copy of the sale, so the sale is always held by the
time such a return arrives; a return whose sale the cloud does not hold is not judged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from protocol.bodies import OverrideGranted, ReturnCompleted

if TYPE_CHECKING:
    from cloud.ingest import Item, Projected

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

_FACT_COLUMNS = (
    "event, store, at, action, requester, approver, register, amount, currency, reason,"
    " offline, approval, source, used_by"
)
_FACT_TYPES = (
    "uuid, text, timestamptz, text, text, text, text, bigint, text, text, boolean, text, text, uuid"
)


def project(conn: Conn, store: str, items: Sequence[Item], out: Projected) -> None:
    """The batch's overrides into override_fact, and an alert for each over-return."""
    granted = [item for item in items if isinstance(item.body, OverrideGranted)]
    carried = [item for item in items if item.envelope.override is not None]
    if granted:
        _granted(conn, store, granted)
    if carried:
        _carried(conn, store, carried)
    returns = [
        item
        for item in items
        if isinstance(item.body, ReturnCompleted)
        and item.body.original is not None
        and any(line.original_line is not None for line in item.body.lines)
    ]
    if returns:
        _over_returns(conn, store, returns)


def _insert(conn: Conn, rows: Sequence[tuple[Any, ...]], conflict: str) -> None:
    arrays = ", ".join(f"%s::{kind}[]" for kind in _FACT_TYPES.split(", "))
    conn.execute(
        f"INSERT INTO override_fact ({_FACT_COLUMNS}) SELECT * FROM unnest({arrays}) {conflict}",
        [list(column) for column in zip(*rows, strict=True)],
    )


def _granted(conn: Conn, store: str, items: Sequence[Item]) -> None:
    """override.granted events: the approval's row (replacing one made from an envelope)."""
    approvals = sorted({item.body.approval for item in items})
    used_by = dict(
        conn.execute(
            "DELETE FROM override_fact WHERE approval = ANY(%s) AND source = 'envelope'"
            " RETURNING approval, used_by::text",
            (approvals,),
        ).fetchall()
    )
    rows = []
    seen: set[str] = set()
    for item in items:
        body: OverrideGranted = item.body
        if body.approval in seen:
            continue  # the appliance flags a second grant of one approval; the first counts
        seen.add(body.approval)
        env = item.envelope
        rows.append(
            (
                env.id,
                store,
                env.at,
                body.action,
                body.requester,
                body.approver,
                body.register or env.origin,
                body.amount,
                body.currency,
                body.reason,
                body.offline,
                body.approval,
                "granted",
                used_by.get(body.approval),
            )
        )
    _insert(conn, rows, "ON CONFLICT DO NOTHING")


def _carried(conn: Conn, store: str, items: Sequence[Item]) -> None:
    """Events carrying an approval: mark it used, or make its row from the envelope."""
    rows = []
    seen: set[str] = set()
    for item in items:
        env = item.envelope
        override = env.override
        assert override is not None
        if override.id in seen or isinstance(item.body, OverrideGranted):
            continue
        seen.add(override.id)
        rows.append(
            (
                env.id,
                store,
                env.at,
                override.action,
                env.actor,
                override.approver,
                env.origin,
                None,
                None,
                None,
                override.offline,
                override.id,
                "envelope",
                env.id,
            )
        )
    if rows:
        _insert(
            conn,
            rows,
            "ON CONFLICT (approval) DO UPDATE"
            " SET used_by = COALESCE(override_fact.used_by, excluded.used_by)",
        )


def _over_returns(conn: Conn, store: str, items: Sequence[Item]) -> None:
    """Alert on each receipt line the batch's returns took back beyond what was sold."""
    mine: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
    for item in items:
        body: ReturnCompleted = item.body
        assert body.original is not None
        for returned_line in body.lines:
            if returned_line.original_line is not None:
                mine[(body.original, returned_line.original_line)].append(
                    (item.envelope.id, returned_line.qty)
                )
    receipts = sorted({receipt for receipt, _ in mine})
    sold: dict[tuple[str, int], int] = {}
    sale_store: dict[str, str] = {}
    for receipt, seller, number, qty, voided in conn.execute(
        "SELECT s.envelope #>> '{body,receipt}', s.store, (l ->> 'line')::int,"
        " CASE WHEN (l ->> 'voided')::boolean THEN 0 ELSE (l ->> 'qty')::bigint END,"
        " EXISTS (SELECT 1 FROM event v WHERE v.type = 'sale.voided'"
        "   AND v.envelope #>> '{body,receipt}' = s.envelope #>> '{body,receipt}'"
        "   AND v.envelope #>> '{body,sale}' = s.id::text)"
        " FROM event s, jsonb_array_elements(s.envelope #> '{body,lines}') AS l"
        " WHERE s.type = 'sale.completed' AND s.envelope #>> '{body,receipt}' = ANY(%s)",
        (receipts,),
    ):
        if receipt in sale_store and sale_store[receipt] != seller:
            continue  # a receipt number is one register's; a second sale of it is not ours
        sale_store[receipt] = seller
        key = (receipt, int(number))
        sold[key] = sold.get(key, 0) + (0 if voided else int(qty))
    returned: dict[tuple[str, int], list[tuple[str, str, int]]] = defaultdict(list)
    for receipt, event, returner, number, qty in conn.execute(
        "SELECT e.envelope #>> '{body,original}', e.id::text, e.store,"
        " (l ->> 'original_line')::int, (l ->> 'qty')::bigint"
        " FROM event e, jsonb_array_elements(e.envelope #> '{body,lines}') AS l"
        " WHERE e.type = 'return.completed' AND e.envelope #>> '{body,original}' = ANY(%s)"
        " AND l ->> 'original_line' IS NOT NULL ORDER BY e.at, e.id",
        (receipts,),
    ):
        returned[(receipt, int(number))].append((event, returner, int(qty)))
    for key in sorted(mine):
        receipt, line = key
        if receipt not in sale_store:
            continue  # the sale is not held: nothing to judge against
        total = sum(qty for _, _, qty in returned[key])
        limit = sold.get(key, 0)
        if total <= limit:
            continue
        details = {
            "receipt": receipt,
            "line": line,
            "sold": limit,
            "returned": total,
            "sale_store": sale_store[receipt],
            "events": [event for event, _ in mine[key]],
            "returns": [
                {"event": event, "store": returner, "qty": qty}
                for event, returner, qty in returned[key]
            ],
        }
        conn.execute(
            "INSERT INTO alert (kind, store, details) VALUES ('over_return', %s, %s)",
            (store, Jsonb(details)),
        )
        _log.warning(
            "over-return store=%s receipt=%s line=%s: %s returned of %s sold",
            store,
            receipt,
            line,
            total,
            limit,
        )
