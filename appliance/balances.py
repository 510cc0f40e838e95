"""Gift card and store credit payments (decisions.md §46): balances live in the cloud.

Online, the register asks for a hold before it seals a sale paid from an account
(`POST /api/v1/balances/holds`): the cloud reserves the amount under the account's lock, so
two stores cannot spend the same balance at once, and the sale's event uses the hold up when
the cloud ingests it. Here the hold is kept in `balance_hold`; the sale's tender of that
account and amount uses it up in the push's transaction.

Offline (no hold: the cloud could not be asked), a payment from an account is allowed up to
`offline_redeem_limit` per card, counting this store's offline payments from that card that
the cloud does not have yet; beyond it, a live sale is refused and a replayed one kept and
flagged. The cloud books offline payments when it gets them, and flags them for review.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from appliance.errors import Conflict, Invalid, NotFound
from appliance.runtime import Runtime
from appliance.sync.chain import BadCloudReply, CloudError, call_cloud
from protocol.chain import (
    BalanceReply,
    BalanceRequest,
    HoldReply,
    HoldRequest,
    ReleaseRequest,
)
from protocol.ids import new_id

if TYPE_CHECKING:
    from appliance.push import Apply

_log = logging.getLogger(__name__)

KINDS = ("gift_card", "store_credit")


def _cloud_refusal(exc: CloudError) -> Exception:
    """The cloud's no as the API's error: unknown 404, not enough 409, the rest as is."""
    if exc.code == "unknown_account":
        return NotFound(exc.message, code="unknown_account")
    if exc.code == "insufficient_balance":
        return Conflict(exc.message, code="insufficient_balance", details=exc.details)
    if exc.code == "wrong_currency":
        return Invalid(exc.message, code="wrong_currency")
    return exc


def balance_of(rt: Runtime, kind: str, reference: str) -> dict[str, Any]:
    """An account's balance as the cloud has it now."""
    try:
        reply = call_cloud(rt, BalanceRequest(account=kind, reference=reference))  # type: ignore[arg-type]
    except CloudError as exc:
        raise _cloud_refusal(exc) from None
    if not isinstance(reply, BalanceReply):
        raise BadCloudReply(f"the cloud answered a balance with {type(reply).__name__}")
    return {
        "kind": reply.account,
        "reference": reply.reference,
        "currency": reply.currency,
        "balance": reply.balance,
        "held": reply.held,
        "available": reply.available,
    }


def place_hold(rt: Runtime, kind: str, reference: str, amount: int) -> dict[str, Any]:
    """Ask the cloud to reserve `amount` of the account for a payment here, and keep the hold."""
    hold_id = new_id()
    request = HoldRequest(
        hold=hold_id,
        account=kind,  # type: ignore[arg-type]
        reference=reference,
        amount=amount,
        currency=rt.settings.currency,
    )
    try:
        reply = call_cloud(rt, request)
    except CloudError as exc:
        raise _cloud_refusal(exc) from None
    if not isinstance(reply, HoldReply) or reply.hold != hold_id or reply.amount != amount:
        raise BadCloudReply("the cloud answered a hold with another answer")
    now = rt.now_ms()
    with rt.db.write():
        rt.db.execute(
            "INSERT INTO balance_hold (id, kind, reference, amount, created_ms, expires_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (hold_id, kind, reference, amount, now, now + 30 * 60_000),
        )
    return {
        "hold": hold_id,
        "kind": kind,
        "reference": reference,
        "amount": amount,
        "expires_at": reply.expires_at,
        "available": reply.available,
    }


def release_hold(rt: Runtime, hold_id: str) -> None:
    """Give a hold back (the payment was not made): here at once, in the cloud if it can be
    asked (otherwise the cloud's hold lapses by itself)."""
    with rt.db.write():
        row = rt.db.one("SELECT event, released FROM balance_hold WHERE id = ?", (hold_id,))
        if row is None:
            raise NotFound(f"no hold {hold_id}")
        if row["event"] is not None:
            raise Conflict(f"hold {hold_id} paid for a sale already", code="hold_used")
        rt.db.execute("UPDATE balance_hold SET released = 1 WHERE id = ?", (hold_id,))
    try:
        call_cloud(rt, ReleaseRequest(hold=hold_id))
    except Exception as exc:  # the cloud's hold lapses anyway
        _log.info("store %s: hold %s released here only (%s)", rt.store, hold_id, exc)


def offline_state(rt: Runtime) -> dict[str, int]:
    """Offline payments from accounts the cloud does not have yet, and open holds."""
    row = rt.db.one(
        "SELECT COUNT(*) AS count, COALESCE(SUM(o.amount), 0) AS amount"
        " FROM offline_redemption o JOIN event e ON e.id = o.event, cloud_cursor c"
        " WHERE c.id = 1 AND e.store_seq > c.applied_through"
    )
    holds = rt.db.scalar(
        "SELECT COUNT(*) FROM balance_hold WHERE event IS NULL AND released = 0 AND expires_ms > ?",
        (rt.now_ms(),),
    )
    assert row is not None
    return {"count": int(row["count"]), "amount": int(row["amount"]), "holds": int(holds)}


def offline_used(rt: Runtime, kind: str, reference: str) -> int:
    """What this store's payments from an account took while the cloud has not had them."""
    return int(
        rt.db.scalar(
            "SELECT COALESCE(SUM(o.amount), 0) FROM offline_redemption o"
            " JOIN event e ON e.id = o.event, cloud_cursor c"
            " WHERE c.id = 1 AND o.kind = ? AND o.reference = ?"
            " AND e.store_seq > c.applied_through",
            (kind, reference),
        )
    )


def check_sale_tenders(step: Apply, tenders: Any) -> None:
    """A sale's payments from accounts: each uses up a hold of this store for that account
    and amount, or is an offline payment within the per-card limit."""
    rt = step.rt
    limit = rt.settings.offline_redeem_limit
    for index, tender in enumerate(tenders):
        if tender.kind not in KINDS or not tender.reference:
            continue
        hold = rt.db.one(
            "SELECT id FROM balance_hold WHERE kind = ? AND reference = ? AND amount = ?"
            " AND event IS NULL AND released = 0 ORDER BY created_ms LIMIT 1",
            (tender.kind, tender.reference, tender.amount),
        )
        if hold is not None:
            rt.db.execute(
                "UPDATE balance_hold SET event = ? WHERE id = ?", (step.env.id, hold["id"])
            )
            continue
        before = offline_used(rt, tender.kind, tender.reference)
        if before + tender.amount > limit:
            step.breach(
                "offline_limit",
                f"{tender.reference} can pay at most {max(0, limit - before)} more here while"
                " the cloud cannot be asked",
                kind=tender.kind,
                reference=tender.reference,
                available=max(0, limit - before),
            )
        rt.db.execute(
            "INSERT INTO offline_redemption (event, tender, kind, reference, amount)"
            " VALUES (?, ?, ?, ?, ?)",
            (step.env.id, index, tender.kind, tender.reference, tender.amount),
        )
