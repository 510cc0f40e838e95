"""Answers to a store's chain requests (`protocol.chain`) from the cloud's projections.

Each store's variant ids are its own; the SKU is the chain's key (decisions.md §43). Which
SKU a store's ids stand for is in `store_variant`, kept from the stores' directory uploads
(decisions.md §42): a stock request names the SKU, and a receipt's lines go back with theirs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg

from cloud import balances
from protocol.chain import (
    BalanceRequest,
    ChainReply,
    ErrorReply,
    HoldRequest,
    ReceiptReply,
    ReceiptRequest,
    ReleaseRequest,
    ReturnedLine,
    StockReply,
    StockRequest,
    StoreStock,
    parse_request,
)

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


def _at(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def stock_elsewhere(conn: Conn, store: str, sku: str) -> StockReply:
    """On-hand of a SKU in every store but `store` that has a variant with it, summed over a
    store's ids for it, with when the cloud last took a batch from that store."""
    rows = conn.execute(
        "SELECT sv.store, s.name, COALESCE(SUM(o.qty), 0)::bigint, c.updated_at"
        " FROM store_variant sv"
        " JOIN store s ON s.id = sv.store"
        " LEFT JOIN on_hand o ON o.store = sv.store AND o.variant = sv.uid"
        " LEFT JOIN store_cursor c ON c.store = sv.store"
        " WHERE upper(sv.sku) = upper(%s) AND sv.store <> %s"
        " GROUP BY sv.store, s.name, c.updated_at ORDER BY sv.store",
        (sku, store),
    ).fetchall()
    return StockReply(
        sku=sku,
        stores=[
            StoreStock(store=other, name=name, on_hand=int(qty), synced_at=_at(synced))
            for other, name, qty, synced in rows
        ],
    )


def receipt_elsewhere(conn: Conn, store: str, number: str) -> ReceiptReply | ErrorReply:
    """Another store's sale by receipt number, with what every store but `store` (the asking
    one, which knows its own returns better) has returned of it."""
    sale = conn.execute(
        "SELECT id::text, store, origin, actor, envelope FROM event"
        " WHERE type = 'sale.completed' AND envelope #>> '{body,receipt}' = %s"
        " ORDER BY store_seq LIMIT 1",
        (number,),
    ).fetchone()
    if sale is None:
        return ErrorReply(error="unknown_receipt", message=f"no sale with receipt {number}")
    sale_id, seller, origin, actor, envelope = sale
    if seller == store:
        # Its own sale: the appliance holds it (and answers from SQLite); asked here, the
        # cloud would not know its latest returns.
        return ErrorReply(error="own_receipt", message=f"receipt {number} is {store}'s own")
    body = envelope["body"]
    variants = sorted({line["variant"] for line in body["lines"]})
    known = dict(
        conn.execute(
            "SELECT uid::text, sku FROM store_variant WHERE store = %s AND uid = ANY(%s::uuid[])",
            (seller, variants),
        ).fetchall()
    )
    voided = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM event WHERE type = 'sale.voided'"
        " AND envelope #>> '{body,receipt}' = %s AND envelope #>> '{body,sale}' = %s)",
        (number, sale_id),
    ).fetchone()
    returned = conn.execute(
        "SELECT (l ->> 'original_line')::int, SUM((l ->> 'qty')::bigint),"
        " SUM((l ->> 'refund')::bigint)"
        " FROM event e, jsonb_array_elements(e.envelope #> '{body,lines}') AS l"
        " WHERE e.type = 'return.completed' AND e.envelope #>> '{body,original}' = %s"
        " AND e.store <> %s AND l ->> 'original_line' IS NOT NULL"
        " GROUP BY 1 ORDER BY 1",
        (number, store),
    ).fetchall()
    refunded = conn.execute(
        "SELECT t ->> 'kind', SUM((t ->> 'amount')::bigint)"
        " FROM event e, jsonb_array_elements(e.envelope #> '{body,tenders}') AS t"
        " WHERE e.type = 'return.completed' AND e.envelope #>> '{body,original}' = %s"
        " AND e.store <> %s GROUP BY 1",
        (number, store),
    ).fetchall()
    return ReceiptReply(
        id=sale_id,
        receipt=number,
        store=seller,
        register=origin,
        actor=actor,
        at=envelope["at"],
        body=body,
        skus={str(line["line"]): known.get(line["variant"]) for line in body["lines"]},
        voided=bool(voided and voided[0]),
        returned=[ReturnedLine(line=n, qty=int(q), refund=int(r)) for n, q, r in returned],
        refunded={kind: int(amount) for kind, amount in refunded},
    )


def answer(conn: Conn, store: str, payload: bytes) -> ChainReply:
    """The reply to one request from `store` (an ErrorReply for one that is not a request)."""
    request = parse_request(payload)
    if request is None:
        return ErrorReply(error="bad_request", message="not a chain request")
    if isinstance(request, StockRequest):
        return stock_elsewhere(conn, store, request.sku)
    if isinstance(request, ReceiptRequest):
        return receipt_elsewhere(conn, store, request.receipt)
    if isinstance(request, BalanceRequest):
        return balances.balance(conn, request)
    if isinstance(request, HoldRequest):
        return balances.hold(conn, store, request)
    if isinstance(request, ReleaseRequest):
        return balances.release(conn, store, request)
    raise AssertionError(f"unhandled request {request!r}")  # pragma: no cover
