"""Chain-wide balances: gift cards and store credit, spendable in any store (decisions.md §46).

- **The balance** of an account is what HQ issued plus every ingested event's movements:
  a `sale.completed` tender of the account's kind redeems (−), a `return.completed` tender
  refunds to it (+; a store credit account is opened by its first refund), a `sale.voided`
  gives its sale's redemptions back (+). Ingest books them in the batch's own transaction
  (`book_events`), once per event and tender.
- **Holds.** A store paying online first asks for a hold (`hold`): under the account's row
  lock, so two stores asking at once are served one after the other and the second sees the
  first's hold; granted only if the balance less every live hold covers it. The payment's
  event consumes the oldest matching hold of that store when it is ingested; a hold not used
  is released by the store (`release`) or lapses after `HOLD_TTL`.
- **Offline.** A redemption that arrives with no hold was made while the store could not
  ask (the appliance allows it up to its per-card limit). It is booked, since it happened,
  and flagged `offline` in the ledger for HQ's review, as is any booking that leaves a
  balance below zero (`overdrawn`). Only a tender with no reference at all, which no account
  can take, raises an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from protocol.bodies import ReturnCompleted, SaleCompleted, SaleVoided, Tender
from protocol.chain import (
    BalanceReply,
    BalanceRequest,
    ErrorReply,
    HoldReply,
    HoldRequest,
    ReleaseReply,
    ReleaseRequest,
)

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

KINDS = frozenset({"gift_card", "store_credit"})
HOLD_TTL = timedelta(minutes=30)


def _at(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def _held(conn: Conn, kind: str, reference: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM balance_hold WHERE kind = %s AND reference = %s"
        " AND state = 'held' AND expires_at > now()",
        (kind, reference),
    ).fetchone()
    return int(row[0]) if row else 0


def _unknown(kind: str, reference: str) -> ErrorReply:
    what = "gift card" if kind == "gift_card" else "store credit account"
    return ErrorReply(error="unknown_account", message=f"no {what} {reference}")


def balance(conn: Conn, request: BalanceRequest) -> BalanceReply | ErrorReply:
    """An account's balance, what is on hold, and what is available."""
    row = conn.execute(
        "SELECT balance, currency FROM balance_account WHERE kind = %s AND reference = %s",
        (request.account, request.reference),
    ).fetchone()
    if row is None:
        return _unknown(request.account, request.reference)
    held = _held(conn, request.account, request.reference)
    return BalanceReply(
        account=request.account,
        reference=request.reference,
        currency=row[1],
        balance=int(row[0]),
        held=held,
        available=int(row[0]) - held,
    )


def hold(conn: Conn, store: str, request: HoldRequest) -> HoldReply | ErrorReply:
    """Reserve part of an account for `store`'s payment, or say why not. The same hold id
    asked again gets the same answer."""
    with conn.transaction():
        account = conn.execute(
            "SELECT balance, currency FROM balance_account WHERE kind = %s AND reference = %s"
            " FOR UPDATE",
            (request.account, request.reference),
        ).fetchone()
        if account is None:
            return _unknown(request.account, request.reference)
        existing = conn.execute(
            "SELECT kind, reference, store, amount, expires_at FROM balance_hold WHERE id = %s",
            (request.hold,),
        ).fetchone()
        if existing is not None:
            if tuple(existing[:4]) != (request.account, request.reference, store, request.amount):
                return ErrorReply(
                    error="bad_request", message=f"hold {request.hold} is another payment's"
                )
            return HoldReply(
                hold=request.hold,
                account=request.account,
                reference=request.reference,
                amount=request.amount,
                expires_at=_at(existing[4]),
                available=int(account[0]) - _held(conn, request.account, request.reference),
            )
        if account[1] != request.currency:
            return ErrorReply(
                error="wrong_currency", message=f"{request.reference} holds {account[1]}"
            )
        available = int(account[0]) - _held(conn, request.account, request.reference)
        if request.amount > available:
            return ErrorReply(
                error="insufficient_balance",
                message=f"{request.reference} has {max(0, available)} available",
                available=max(0, available),
            )
        row = conn.execute(
            "INSERT INTO balance_hold (id, kind, reference, store, amount, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING expires_at",
            (request.hold, request.account, request.reference, store, request.amount, HOLD_TTL),
        ).fetchone()
        assert row is not None
    return HoldReply(
        hold=request.hold,
        account=request.account,
        reference=request.reference,
        amount=request.amount,
        expires_at=_at(row[0]),
        available=available - request.amount,
    )


def release(conn: Conn, store: str, request: ReleaseRequest) -> ReleaseReply:
    """Release `store`'s hold if it is still held."""
    row = conn.execute(
        "UPDATE balance_hold SET state = 'released' WHERE id = %s AND store = %s"
        " AND state = 'held' RETURNING id",
        (request.hold, store),
    ).fetchone()
    return ReleaseReply(hold=request.hold, released=row is not None)


def issue(conn: Conn, kind: str, reference: str, amount: int, currency: str) -> int:
    """HQ issues (or loads) an account: the balance after."""
    if kind not in KINDS:
        raise ValueError(f"{kind} is not gift_card or store_credit")
    if amount <= 0:
        raise ValueError("the amount must be positive")
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO balance_account (kind, reference, currency, balance)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (kind, reference) DO UPDATE"
            " SET balance = balance_account.balance + excluded.balance, updated_at = now()"
            " WHERE balance_account.currency = excluded.currency RETURNING balance",
            (kind, reference, currency, amount),
        ).fetchone()
        if row is None:
            raise ValueError(f"{reference} is held in another currency than {currency}")
        conn.execute(
            "INSERT INTO balance_entry (kind, reference, entry, amount, balance_after)"
            " VALUES (%s, %s, 'issue', %s, %s)",
            (kind, reference, amount, row[0]),
        )
    return int(row[0])


def _book(
    conn: Conn,
    store: str,
    event: str,
    tender: int,
    kind: str,
    reference: str | None,
    amount: int,
    entry: str,
    currency: str,
) -> None:
    if reference is None:
        _alert(
            conn, store, "balance_no_reference", {"event": event, "tender": tender, "kind": kind}
        )
        return
    held = None
    if entry == "redeem":
        row = conn.execute(
            "UPDATE balance_hold SET state = 'used', event = %s WHERE id = ("
            " SELECT id FROM balance_hold WHERE kind = %s AND reference = %s AND store = %s"
            " AND amount = %s AND state = 'held' ORDER BY created_at LIMIT 1 FOR UPDATE)"
            " RETURNING id",
            (event, kind, reference, store, -amount),
        ).fetchone()
        held = None if row is None else row[0]
    after = conn.execute(
        "UPDATE balance_account SET balance = balance + %s, updated_at = now()"
        " WHERE kind = %s AND reference = %s RETURNING balance",
        (amount, kind, reference),
    ).fetchone()
    flagged = None
    if after is None:
        conn.execute(
            "INSERT INTO balance_account (kind, reference, currency, balance)"
            " VALUES (%s, %s, %s, %s)",
            (kind, reference, currency, amount),
        )
        balance_after = amount
        # Store credit is opened by its first refund; anything else should have existed.
        if not (kind == "store_credit" and entry == "refund"):
            flagged = "unknown_account"
    else:
        balance_after = int(after[0])
    if flagged is None and entry == "redeem":
        if held is None and balance_after < 0:
            flagged = "offline_overdrawn"
        elif held is None:
            flagged = "offline"
        elif balance_after < 0:
            flagged = "overdrawn"
    elif flagged is None and balance_after < 0:
        flagged = "overdrawn"
    conn.execute(
        "INSERT INTO balance_entry (kind, reference, store, event, tender, entry, amount,"
        " balance_after, hold, flagged) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (event, tender) DO NOTHING",
        (kind, reference, store, event, tender, entry, amount, balance_after, held, flagged),
    )
    if flagged is not None:
        # For HQ's review (the flagged index of balance_entry), not an operator's alert:
        # offline payments are part of selling through an outage, not a fault.
        _log.info(
            "store=%s event=%s %s %s: %s, balance %s (%s)",
            store,
            event,
            kind,
            reference,
            amount,
            balance_after,
            flagged,
        )


def _alert(conn: Conn, store: str, kind: str, details: dict[str, Any]) -> None:
    _log.warning("store=%s balance alert %s: %s", store, kind, details)
    conn.execute(
        "INSERT INTO alert (kind, store, details) VALUES (%s, %s, %s)",
        (kind, store, Jsonb(details)),
    )


def book_events(conn: Conn, store: str, items: Sequence[tuple[str, Any]]) -> None:
    """Book the balance movements of newly ingested events (`(event id, body)` in store_seq
    order), inside the batch's transaction."""
    sales: dict[str, SaleCompleted] = {}
    for event, body in items:
        # Which tenders move a balance, which way, as what entry, in which currency.
        tenders: list[Tender]
        if isinstance(body, SaleCompleted):
            sales[event] = body
            tenders, sign, entry, currency = body.tenders, -1, "redeem", body.currency
        elif isinstance(body, ReturnCompleted):
            tenders, sign, entry, currency = body.tenders, 1, "refund", _currency_of(conn, store)
        elif isinstance(body, SaleVoided):
            sale = sales.get(body.sale) or _sale_of(conn, body.sale)
            if sale is None:
                continue
            tenders, sign, entry, currency = sale.tenders, 1, "void", sale.currency
        else:
            continue
        for n, tender in enumerate(tenders):
            if tender.kind in KINDS:
                _book(
                    conn,
                    store,
                    event,
                    n,
                    tender.kind,
                    tender.reference,
                    sign * tender.amount,
                    entry,
                    currency,
                )


def _sale_of(conn: Conn, sale: str) -> SaleCompleted | None:
    from protocol.bodies import decode_body

    row = conn.execute(
        "SELECT envelope -> 'body' FROM event WHERE id = %s AND type = 'sale.completed'",
        (sale,),
    ).fetchone()
    if row is None:
        return None
    body = decode_body("sale.completed", row[0])
    return body if isinstance(body, SaleCompleted) else None


def _currency_of(conn: Conn, store: str) -> str:
    """A return names no currency: its store's sales do (EUR, the default, before any)."""
    row = conn.execute(
        "SELECT currency FROM sale_fact WHERE store = %s AND currency IS NOT NULL LIMIT 1",
        (store,),
    ).fetchone()
    return str(row[0]) if row else "EUR"
