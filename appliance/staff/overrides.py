"""Overrides: a higher role approves an action on the spot with a single-use, 60-second token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from appliance import journal
from appliance.errors import Conflict, Forbidden, Invalid, Unauthorized
from appliance.oneline import one_line
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember, get_staff, match_pin
from appliance.staff.lockout import check_unlocked, clear_failures, record_failure
from appliance.staff.pins import valid_pin
from appliance.staff.registers import new_token, token_hash
from appliance.staff.sessions import Caller
from protocol.bodies import OverrideGranted
from protocol.envelope import EnvelopeError, format_at, parse_at
from protocol.ids import new_id
from protocol.permissions import PERMISSIONS, Action, Role, may_approve, may_perform

if TYPE_CHECKING:
    from appliance.push import Apply

APPROVAL_PREFIX = "tbo_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """An approval just granted: the token goes back to the requesting register once."""

    id: str
    token: str
    action: Action
    amount: int | None
    currency: str | None
    approver: StaffMember
    expires_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Authorization:
    """Permission to go ahead, and the override that gave it when the role alone did not."""

    action: Action
    override_id: str | None
    approver_id: str | None


def grant(
    rt: Runtime,
    caller: Caller,
    *,
    action: Action,
    amount: int | None,
    approver_pin: str,
    approver_id: str | None,
    reason: str,
) -> Grant:
    """Check an approver's PIN and issue an approval bound to action, amount and requester."""
    requester = caller.require_staff()
    permission = PERMISSIONS[action]
    reason = one_line(reason, what="the reason", max_length=200, code="invalid_reason")
    if not permission.approvable:
        raise Forbidden(f"{permission.label} cannot be approved on the spot", code="not_approvable")
    if may_perform(requester.role, action):
        raise Conflict(
            f"{requester.name} may do {permission.label.lower()} without an override",
            code="override_not_needed",
        )
    if permission.amount_bound and amount is None:
        raise Invalid(f"{permission.label} approvals are for an amount", code="amount_required")
    if not permission.amount_bound and amount is not None:
        raise Invalid(f"{permission.label} approvals carry no amount", code="amount_not_allowed")

    check_unlocked(rt, "register", caller.register.id)
    if approver_id is not None:
        approver = get_staff(rt, approver_id)
        check_unlocked(rt, "staff", approver_id)
        if not may_approve(approver.role, action):
            raise Forbidden(
                f"{approver.name} ({approver.role.slug}) may not approve {permission.label.lower()}",
                code="approver_not_allowed",
            )
        candidates = [approver_id]
    else:
        candidates = [
            row["id"]
            for row in rt.db.query("SELECT id, role FROM staff WHERE active = 1 ORDER BY id")
            if may_approve(Role.parse(row["role"]), action)
        ]
    matched = (
        match_pin(rt, approver_pin, candidates, exclude=requester.id)
        if valid_pin(approver_pin)
        else None
    )
    with rt.db.write():
        if matched is None:
            record_failure(rt, "register", caller.register.id)
            if approver_id is not None:
                record_failure(rt, "staff", approver_id)
        else:
            clear_failures(rt, "register", caller.register.id)
            clear_failures(rt, "staff", matched.id)
            issued = issue(
                rt, caller, approver=matched, action=action, amount=amount, reason=reason
            )
    if matched is None:
        check_unlocked(rt, "register", caller.register.id)
        if approver_id is not None:
            check_unlocked(rt, "staff", approver_id)
        raise Unauthorized("that PIN cannot approve this", code="wrong_pin")
    return issued


def issue(
    rt: Runtime,
    caller: Caller,
    *,
    approver: StaffMember,
    action: Action,
    amount: int | None,
    reason: str,
) -> Grant:
    """Store an approval whose approver is already known (their PIN checked by `grant`), its
    override.granted event and its override-log row, in one write."""
    requester = caller.require_staff()
    token = new_token(APPROVAL_PREFIX)
    approval_id = new_id()
    now = rt.now_ms()
    expires = now + rt.settings.override_ttl_seconds * 1000
    currency = rt.settings.currency if amount is not None else None
    with rt.db.write():
        rt.db.execute(
            "INSERT INTO approval (id, token_hash, action, amount, currency, requester_id,"
            " approver_id, register_id, reason, created_ms, expires_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                approval_id,
                token_hash(token),
                action.value,
                amount,
                currency,
                requester.id,
                approver.id,
                caller.register.id,
                reason,
                now,
                expires,
            ),
        )
        stored = journal.record(
            rt,
            type="override.granted",
            actor=approver.id,
            body={
                "approval": approval_id,
                "action": action.value,
                "amount": amount,
                "currency": currency,
                "requester": requester.id,
                "approver": approver.id,
                "register": caller.register.id,
                "reason": reason,
                "expires_at": format_at(expires),
                "offline": False,
            },
        )
        project(rt, stored.envelope.id, stored.envelope.at, stored.envelope.body)
    return Grant(
        id=approval_id,
        token=token,
        action=action,
        amount=amount,
        currency=currency,
        approver=approver,
        expires_at_ms=expires,
    )


def project(rt: Runtime, event_id: str, at: str, body: dict[str, Any]) -> None:
    """Add an override.granted event to the searchable override log. Call inside a write."""
    rt.db.execute(
        "INSERT INTO override_log (id, event_id, at, action, amount, currency, requester_id,"
        " approver_id, register_id, reason, offline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            body["approval"],
            event_id,
            at,
            body["action"],
            body.get("amount"),
            body.get("currency"),
            body["requester"],
            body["approver"],
            body.get("register"),
            body["reason"],
            int(bool(body.get("offline"))),
        ),
    )


def authorize(
    rt: Runtime,
    caller: Caller,
    action: Action,
    *,
    amount: int | None = None,
    approval: str | None = None,
    used_for: str,
) -> Authorization:
    """Allow an action by role, or by consuming an approval token. Call inside a write.

    Consuming inside the caller's write transaction means a refused or failed action
    leaves the approval unused, and a used one can never be used twice.
    """
    staff = caller.require_staff()
    permission = PERMISSIONS[action]
    if may_perform(staff.role, action):
        return Authorization(action=action, override_id=None, approver_id=None)
    if approval is None:
        raise Forbidden(
            f"{permission.label} needs a {permission.min_role.slug} or an override",
            code="override_required",
            details={
                "action": action.value,
                "min_role": permission.min_role.slug,
                "approvable": permission.approvable,
            },
        )
    row = rt.db.one("SELECT * FROM approval WHERE token_hash = ?", (token_hash(approval),))
    problem = None
    if row is None:
        problem = "this approval is unknown"
    elif row["used_ms"] is not None:
        problem = "this approval was already used"
    elif row["expires_ms"] <= rt.now_ms():
        problem = "this approval has expired; ask again"
    elif row["action"] != action.value:
        problem = f"this approval is for {row['action']}, not {action.value}"
    elif permission.amount_bound and row["amount"] != amount:
        problem = "this approval is for a different amount"
    elif row["requester_id"] != staff.id or row["register_id"] != caller.register.id:
        problem = "this approval was given to someone else"
    if problem is not None or row is None:
        raise Forbidden(problem or "invalid approval", code="approval_invalid")
    updated = rt.db.execute(
        "UPDATE approval SET used_ms = ?, used_for = ? WHERE id = ? AND used_ms IS NULL",
        (rt.now_ms(), used_for, row["id"]),
    )
    if updated.rowcount != 1:
        raise Forbidden("this approval was already used", code="approval_invalid")
    return Authorization(action=action, override_id=row["id"], approver_id=row["approver_id"])


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One override, as the searchable log shows it: `id` is the approval, `event_id` its
    override.granted event in the journal."""

    id: str
    event_id: str
    at: str
    action: str
    amount: int | None
    currency: str | None
    requester: str
    approver: str
    register: str | None
    reason: str
    offline: bool
    used_at: str | None
    used_for: str | None


def search_log(
    rt: Runtime,
    *,
    staff: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
) -> list[LogEntry]:
    """Overrides newest first, filtered by staff member (either side), action and time."""
    where, params = ["1 = 1"], []
    if staff:
        where.append("(o.requester_id = ? OR o.approver_id = ?)")
        params += [staff, staff]
    if action:
        where.append("o.action = ?")
        params.append(action)
    if since:
        where.append("o.at >= ?")
        params.append(since)
    if until:
        where.append("o.at < ?")
        params.append(until)
    rows = rt.db.query(
        "SELECT o.*, a.used_ms, a.used_for FROM override_log o LEFT JOIN approval a ON a.id = o.id"
        f" WHERE {' AND '.join(where)} ORDER BY o.at DESC, o.id DESC LIMIT ?",
        (*params, limit),
    )
    return [
        LogEntry(
            id=row["id"],
            event_id=row["event_id"],
            at=row["at"],
            action=row["action"],
            amount=row["amount"],
            currency=row["currency"],
            requester=row["requester_id"],
            approver=row["approver_id"],
            register=row["register_id"],
            reason=row["reason"],
            offline=bool(row["offline"]),
            used_at=None if row["used_ms"] is None else format_at(row["used_ms"]),
            used_for=row["used_for"],
        )
        for row in rows
    ]


def apply_granted(step: Apply) -> None:
    """override.granted pushed by a register: an approval given while the appliance was out
    of reach, checked on the tablet against a cached verifier. Kept, and always flagged."""
    granted: OverrideGranted = step.body
    rt = step.rt
    if step.live:
        # Online, approvals are made by POST /overrides with the approver's PIN checked here.
        # A live push of one would let any register mint an approval without a PIN.
        step.breach(
            "offline_only",
            "override.granted is only for approvals given while the appliance was out of reach;"
            " online, ask for one with POST /api/v1/overrides",
        )
        return
    try:
        action = Action(granted.action)
    except ValueError:
        step.breach("unknown_action", f"no action {granted.action}")
        return
    if rt.db.scalar("SELECT 1 FROM approval WHERE id = ?", (granted.approval,)):
        step.breach("duplicate_approval", f"approval {granted.approval} already exists")
        return
    approver = rt.db.one("SELECT role FROM staff WHERE id = ?", (granted.approver,))
    if approver is None or not may_approve(Role.parse(approver["role"]), action):
        step.breach("approver_not_allowed", f"{granted.approver} may not approve {action.value}")
    if not rt.db.scalar("SELECT 1 FROM staff WHERE id = ?", (granted.requester,)):
        step.breach("unknown_actor", f"no staff member {granted.requester}")
    if granted.register not in (None, step.env.origin):
        step.breach("wrong_register", f"this approval is for {granted.register}")
    created = parse_at(step.env.at)
    try:
        expires = parse_at(granted.expires_at)
    except EnvelopeError:
        expires = created + rt.settings.override_ttl_seconds * 1000
    if (
        approver is None or not may_approve(Role.parse(approver["role"]), action)
    ) and not step.live:
        # Kept for review, but never usable: an approval from someone who may not approve.
        expires = created
    rt.db.execute(
        "INSERT INTO approval (id, token_hash, action, amount, currency, requester_id, approver_id,"
        " register_id, reason, created_ms, expires_ms, offline)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        (
            granted.approval,
            f"offline:{granted.approval}",
            action.value,
            granted.amount,
            granted.currency,
            granted.requester,
            granted.approver,
            step.env.origin,
            granted.reason,
            created,
            expires,
        ),
    )
    project(
        rt,
        step.env.id,
        step.env.at,
        {**step.env.body, "offline": True, "register": step.env.origin},
    )
    step.flag(
        "offline_override",
        f"{PERMISSIONS[action].label} approved offline by {granted.approver} for {granted.requester}",
    )
