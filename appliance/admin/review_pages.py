"""Flagged offline events: what each one did in the shop's terms, the rule it broke, and the
manager's answer. Approving records a note on the flag (appliance/review.py, as the API's
POST /review/{id}/resolve); a stock problem is corrected with a stock adjustment through the
same event the registers send (stock.adjusted). The flagged event itself never changes: the
journal is append-only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response, request

from appliance import push
from appliance import review as flags
from appliance.admin.core import admin, admin_route, audit, done, form_text, page, rt
from appliance.api.schemas import FlagEntry
from appliance.deliveries import adjustment_reasons
from appliance.errors import ApiError, Conflict
from appliance.receipts.layouts import local_time, money
from appliance.runtime import Runtime
from appliance.stock import quick_on_hand
from protocol.permissions import Role
from webui.forms import FormInvalid, Forms, choice, from_domain, refused, whole_number

# Approving and correcting are a manager's, as on the API (GET /review is Manager there too).
REVIEW_ROLE = Role.MANAGER
FLAGS_SHOWN = 200
# Rules whose breach is about goods on the shelf: a stock adjustment can put them right.
STOCK_CODES = frozenset(
    {"negative_stock", "recount", "unknown_variant", "duplicate_count", "bad_quantity"}
)
# What each rule means for a manager, beyond the message the appliance wrote.
EXPLAIN = {
    "negative_stock": "Stock on hand went below zero: a delivery was not booked, or a count"
    " was wrong. Count the shelf, then correct the stock.",
    "recount": "Two counts of the same item close together disagree. Count it again.",
    "unknown_variant": "The register sold or moved an item this store does not know (an old"
    " catalog on the register).",
    "override_required": "The register did something that needs a supervisor, without one"
    " (it was offline and could not ask).",
    "approval_invalid": "The approval the register used was not valid (already used, or for"
    " something else).",
    "totals_mismatch": "The register's totals differ from what the appliance computes from"
    " the same lines (an old price list on the register, say). The payments stay as the"
    " register took them.",
    "tenders_mismatch": "The payments do not add up to the sale's total.",
    "over_return": "More was refunded than the receipt had left to return.",
    "shift_closed": "It happened on a shift that was already closed.",
    "cash_over_short": "The drawer counted at close differs from what was expected.",
    "clock_ahead": "The register's clock is ahead of the appliance's. Set its time right.",
    "clock_behind": "The register's clock is behind the appliance's. Set its time right.",
    "clock_backwards": "The register's clock went backwards between two of its events.",
    "exchange_incomplete": "One half of an exchange (the return or the sale) is missing.",
}


EVENT_NAMES = {
    "sale.completed": "Sale",
    "sale.voided": "Post-void",
    "return.completed": "Return",
    "shift.opened": "Shift opened",
    "shift.closed": "Shift closed",
    "cash.moved": "Drawer movement",
    "stock.received": "Delivery",
    "stock.adjusted": "Stock adjustment",
    "stock.counted": "Stock count",
    "override.granted": "Approval",
    "receipt.requested": "Receipt request",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One line of the flagged event, in words and money."""

    variant: str | None
    what: str
    qty: str
    amount: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagView:
    """A flag with its event in human terms."""

    flag: FlagEntry
    title: str
    summary: list[str]
    lines: list[Line]
    explain: str | None
    at: str
    stock: bool
    variants: list[tuple[str, str]]


def _names(rt: Runtime, uids: list[str]) -> dict[str, tuple[str, str]]:
    """SKU and title of each known variant."""
    if not uids:
        return {}
    rows = rt.db.query(
        "SELECT v.uid, v.sku, f.doc ->> '$.title' AS title FROM variant v"
        " LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
        " WHERE v.uid IN (SELECT value FROM json_each(?))",
        (json.dumps(uids),),
    )
    return {row["uid"]: (row["sku"], row["title"] or row["sku"]) for row in rows}


def describe(rt: Runtime, flag: FlagEntry) -> FlagView:
    """The flagged event as a manager reads it: what, lines, totals, tenders."""
    row = rt.db.one("SELECT envelope FROM event WHERE id = ?", (flag.event,))
    body: dict[str, Any] = json.loads(row["envelope"])["body"] if row else {}
    currency = body.get("currency") or rt.settings.currency
    locale = rt.settings.locale

    def cash(amount: Any) -> str:
        return money(int(amount), currency, locale) if isinstance(amount, int) else "—"

    raw_lines: list[dict[str, Any]] = [x for x in body.get("lines", []) if isinstance(x, dict)]
    names = _names(rt, [str(x["variant"]) for x in raw_lines if "variant" in x])
    lines: list[Line] = []
    for item in raw_lines:
        uid = item.get("variant")
        sku, title = names.get(str(uid), (None, None))
        what = f"{title} ({sku})" if sku else f"unknown item {uid}"
        qty = item.get("qty", item.get("counted", ""))
        scale = item.get("qty_scale", 1)
        shown_qty = f"{qty / scale:g}" if isinstance(qty, int) and scale != 1 else str(qty)
        amount: str | None = None
        if "unit_price" in item and isinstance(qty, int):
            amount = f"{cash(item['unit_price'])} each"
            if item.get("voided"):
                amount += " (voided)"
        elif "refund" in item:
            amount = f"{cash(item['refund'])} refunded ({item.get('reason', '')})"
        elif "reason" in item:
            amount = str(item["reason"])
        elif item.get("cost") is not None:
            amount = f"{cash(item['cost'])} cost each"
        lines.append(Line(variant=uid, what=what, qty=shown_qty, amount=amount))
    summary: list[str] = []
    if "receipt" in body:
        summary.append(f"Receipt {body['receipt']}")
    if body.get("original"):
        summary.append(f"against receipt {body['original']}")
    totals = body.get("totals")
    if isinstance(totals, dict):
        summary.append(
            "Total " + cash(totals.get("total")) + ", tax " + cash(totals.get("tax"))
            if "total" in totals
            else ""
        )
    for tender in body.get("tenders", []):
        if isinstance(tender, dict):
            summary.append(f"{tender.get('kind', '')}: {cash(tender.get('amount'))}")
    if body.get("kind") in ("pay_in", "pay_out", "no_sale"):
        summary.append(f"{body['kind'].replace('_', ' ')} {cash(body.get('amount'))}")
    cash_count = body.get("cash")
    if isinstance(cash_count, dict):
        summary.append(f"Cash counted {cash(cash_count.get('total'))}")
    name = (
        rt.db.scalar("SELECT name FROM staff WHERE id = ?", (flag.actor,)) if flag.actor else None
    )
    who = f"{name} ({flag.actor})" if name else (flag.actor or "nobody named")
    what = EVENT_NAMES.get(flag.type, flag.type)
    title = f"{what} by {who} on {flag.origin} (#{flag.seq})"
    touched = [
        r["variant"]
        for r in rt.db.query(
            "SELECT DISTINCT variant FROM stock_ledger WHERE event = ? ORDER BY variant",
            (flag.event,),
        )
    ]
    known = _names(rt, touched)
    return FlagView(
        flag=flag,
        title=title,
        summary=[s for s in summary if s],
        lines=lines,
        explain=EXPLAIN.get(flag.code),
        at=local_time(flag.at, rt.settings.timezone) + f" ({rt.settings.timezone})",
        stock=flag.code in STOCK_CODES,
        variants=[
            (uid, f"{known[uid][1]} ({known[uid][0]}): {quick_on_hand(rt, uid)} on hand")
            for uid in touched
            if uid in known
        ],
    )


def _show(forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    show_all = request.args.get("all") == "1"
    # The open flags oldest first (work through them in order); the history newest first.
    found = flags.list_flags(
        runtime, open_only=not show_all, limit=FLAGS_SHOWN, newest_first=show_all
    )
    return page(
        "admin/review.html",
        status=status,
        forms=forms or Forms(),
        views=[describe(runtime, f) for f in found],
        show_all=show_all,
        reasons=adjustment_reasons(runtime),
    )


def _flag(flag_id: int) -> FlagEntry:
    return flags.get_flag(rt(), flag_id)


@admin_route("/review", role=REVIEW_ROLE)
def review() -> Response:
    """Open flags, oldest first (?all=1: every flag, with the answers given)."""
    return _show()


def _note(form: str) -> str:
    note = form_text("note", max_length=201)
    if not note:
        raise FormInvalid(form, {"note": "say what you found or did (one line)"})
    return note


@admin_route("/review/<int:flag_id>/resolve", role=REVIEW_ROLE, methods=("POST",))
def review_resolve(flag_id: int) -> Response:
    """Approve: the flag is closed with the manager's note; the event is kept as it is."""
    form = f"flag-{flag_id}"
    flag = _flag(flag_id)
    runtime = rt()
    try:
        note = _note(form)
        with runtime.db.write():
            flags.resolve(runtime, flag_id, admin().staff.id, note)
            audit("flag_resolve", f"flag:{flag_id}", {"event": flag.event, "code": flag.code})
    except FormInvalid as exc:
        return _show(refused(exc), exc.status)
    except ApiError as exc:
        if exc.code != "invalid_note":
            raise  # already reviewed: the error page says so (the flag is not listed)
        return _show(refused(from_domain(form, exc, {"invalid_note": "note"})), exc.status)
    return done("admin.review", f"Flag {flag_id} ({flag.code}) reviewed")


@admin_route("/review/<int:flag_id>/adjust", role=REVIEW_ROLE, methods=("POST",))
def review_adjust(flag_id: int) -> Response:
    """Correct stock: a stock.adjusted event for one of the event's items, and the flag closed
    with the note and the adjustment's id, in one write."""
    form = f"fix-{flag_id}"
    flag = _flag(flag_id)
    runtime = rt()
    if flag.resolved_at is not None:
        raise Conflict(f"flag {flag_id} was already reviewed", code="already_resolved")
    view = describe(runtime, flag)
    try:
        variant = (request.form.get("variant") or "").strip()
        if variant not in {uid for uid, _ in view.variants}:
            raise FormInvalid(form, {"variant": "choose one of this event's items"})
        qty = whole_number(form, "qty", label="The change")
        if qty == 0 or abs(qty) > 1_000_000:
            raise FormInvalid(form, {"qty": "the change is a whole number, not 0 (−5 removes 5)"})
        reason = choice(form, "reason", dict(adjustment_reasons(runtime)), label="reason")
        note = _note(form)
        with runtime.db.write():
            env = push.apply_own(
                runtime,
                type="stock.adjusted",
                body={
                    "lines": [{"variant": variant, "qty": qty, "reason": reason}],
                    "note": f"review of flag {flag_id}: {note}"[:200],
                },
                actor=admin().staff,
            )
            flags.resolve(
                runtime,
                flag_id,
                admin().staff.id,
                f"stock adjusted {qty:+d} ({env.id}): {note}"[:200],
            )
            audit(
                "flag_adjust",
                f"flag:{flag_id}",
                {"event": flag.event, "adjustment": env.id, "variant": variant, "qty": qty},
            )
    except FormInvalid as exc:
        return _show(refused(exc), exc.status)
    except ApiError as exc:
        return _show(
            refused(
                from_domain(
                    form,
                    exc,
                    {"unknown_reason": "reason", "invalid_note": "note", "bad_quantity": "qty"},
                )
            ),
            exc.status,
        )
    return done("admin.review", f"Stock corrected by {qty:+d} and flag {flag_id} reviewed")
