"""Answers to a store's chain requests (`protocol.chain`) from the cloud's projections.

Each store's variant ids are its own; the SKU is the chain's key (decisions.md §43). Which
SKU a store's ids stand for is in `store_variant`, kept from the stores' directory uploads
(decisions.md §42), and a request names the SKU.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg

from protocol.chain import (
    ChainReply,
    ErrorReply,
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


def answer(conn: Conn, store: str, payload: bytes) -> ChainReply:
    """The reply to one request from `store` (an ErrorReply for one that is not a request)."""
    request = parse_request(payload)
    if request is None:
        return ErrorReply(error="bad_request", message="not a chain request")
    if isinstance(request, StockRequest):
        return stock_elsewhere(conn, store, request.sku)
    raise AssertionError(f"unhandled request {request!r}")  # pragma: no cover
