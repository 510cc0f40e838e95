"""Admin sign-in: staff PIN check with lockouts, server-side browser sessions with their CSRF
token, and the admin audit log (the sign-in throttle is webui.throttle). No Flask here; the views
call these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from appliance.errors import Forbidden, Unauthorized
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember, get_staff
from appliance.staff.lockout import check_unlocked, clear_failures, record_failure
from appliance.staff.pins import valid_pin
from appliance.staff.registers import new_token, token_hash
from protocol.permissions import Role
from webui import csrf

ADMIN_PREFIX = "tba_"
# Who may sign in to the admin pages at all; each page then asks for its own minimum role.
SIGN_IN_ROLE = Role.SUPERVISOR
# Refreshing last-seen costs a durable write; at most this often (as for staff sessions).
TOUCH_EVERY_MS = 30_000
# Ended and expired sessions are deleted at the next sign-in after this long.
KEEP_SESSIONS_MS = 30 * 24 * 3_600_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminSession:
    """A browser signed in to the admin pages as one staff member."""

    token_hash: str
    staff: StaffMember
    csrf_token: str
    address: str
    notice: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewAdminSession:
    """A session just started: its cookie token is handed out once."""

    token: str
    session: AdminSession


def staff_id_for(rt: Runtime, typed: str) -> str:
    """The staff id a person typed: the full id (`s01-staff-3`) or just its number (`3`)."""
    typed = typed.strip().lower()
    if typed.isdigit():
        return f"{rt.store}-staff-{int(typed)}"
    return typed


def sign_in(rt: Runtime, *, staff_id: str, pin: str, address: str) -> NewAdminSession:
    """Check a supervisor's or manager's PIN and start an admin session.

    Wrong PINs count against the staff member (the same lockout as on the registers) and
    against the client address (the address guard that pairing uses).
    """
    rt.address_guard.check(address, rt.now_ms())
    known = rt.db.one("SELECT pin_hash, active FROM staff WHERE id = ?", (staff_id,))
    if known is not None:
        check_unlocked(rt, "staff", staff_id)
    # argon2 runs outside the write lock: it is slow on purpose and must not stall sales.
    ok = (
        known is not None
        and bool(known["active"])
        and valid_pin(pin)
        and rt.pins.verify(known["pin_hash"], pin)
    )
    if not ok:
        if known is not None:
            with rt.db.write():
                record_failure(rt, "staff", staff_id)
        rt.address_guard.fail(address, rt.now_ms())
        if known is not None:
            check_unlocked(rt, "staff", staff_id)
        rt.address_guard.check(address, rt.now_ms())
        raise Unauthorized("wrong staff ID or PIN", code="wrong_pin")
    member = get_staff(rt, staff_id)
    if member.role < SIGN_IN_ROLE:
        raise Forbidden(
            f"the admin pages are for supervisors and managers; {member.name} is a"
            f" {member.role.slug}",
            code="role_required",
            details={"min_role": SIGN_IN_ROLE.slug},
        )
    rt.address_guard.clear(address)
    token = new_token(ADMIN_PREFIX)
    csrf_token = csrf.new_token()
    now = rt.now_ms()
    with rt.db.write():
        clear_failures(rt, "staff", staff_id)
        # Sessions long over are of no use (the audit log keeps who signed in when).
        rt.db.execute("DELETE FROM admin_session WHERE last_seen_ms < ?", (now - KEEP_SESSIONS_MS,))
        rt.db.execute(
            "INSERT INTO admin_session (token_hash, staff_id, csrf_token, address, created_ms,"
            " last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (token_hash(token), staff_id, csrf_token, address, now, now),
        )
        record(rt, staff_id, "sign_in", None, {}, address=address)
    return NewAdminSession(
        token=token,
        session=AdminSession(
            token_hash=token_hash(token), staff=member, csrf_token=csrf_token, address=address
        ),
    )


def resolve(rt: Runtime, token: str) -> AdminSession | None:
    """The live session a cookie token stands for, or None (unknown, ended, idle, too old,
    its staff member gone or no longer allowed in)."""
    if not token.startswith(ADMIN_PREFIX):
        return None
    digest = token_hash(token)
    row = rt.db.one(
        "SELECT a.*, s.name, s.role, s.active, s.locked_until_ms FROM admin_session a"
        " JOIN staff s ON s.id = a.staff_id WHERE a.token_hash = ?",
        (digest,),
    )
    if row is None or row["ended_ms"] is not None or not row["active"]:
        return None
    now = rt.now_ms()
    settings = rt.settings
    if now - row["last_seen_ms"] > settings.staff_idle_minutes * 60_000:
        return None
    if now - row["created_ms"] > settings.staff_session_max_hours * 3_600_000:
        return None
    role = Role.parse(row["role"])
    if role < SIGN_IN_ROLE:
        return None
    if now - row["last_seen_ms"] > TOUCH_EVERY_MS:
        with rt.db.write():
            rt.db.execute(
                "UPDATE admin_session SET last_seen_ms = ? WHERE token_hash = ? AND last_seen_ms < ?",
                (now, digest, now),
            )
    return AdminSession(
        token_hash=digest,
        staff=StaffMember(
            id=row["staff_id"],
            name=row["name"],
            role=role,
            active=True,
            locked_until_ms=row["locked_until_ms"],
        ),
        csrf_token=row["csrf_token"],
        address=row["address"],
        notice=row["notice"],
    )


def sign_out(rt: Runtime, session: AdminSession, *, address: str) -> None:
    """End the session at once."""
    with rt.db.write():
        rt.db.execute(
            "UPDATE admin_session SET ended_ms = ? WHERE token_hash = ? AND ended_ms IS NULL",
            (rt.now_ms(), session.token_hash),
        )
        record(rt, session.staff.id, "sign_out", None, {}, address=address)


def set_notice(rt: Runtime, session: AdminSession, notice: str | None) -> None:
    """What the next page shows once (after a redirect): "Printer added", say."""
    with rt.db.write():
        rt.db.execute(
            "UPDATE admin_session SET notice = ? WHERE token_hash = ?",
            (notice, session.token_hash),
        )


def record(
    rt: Runtime,
    staff_id: str,
    action: str,
    target: str | None,
    details: dict[str, Any],
    *,
    address: str | None,
) -> None:
    """Add a line to the admin audit log (call inside the write that made the change)."""
    rt.db.execute(
        "INSERT INTO admin_audit (at_ms, staff_id, action, target, details, address)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            rt.now_ms(),
            staff_id,
            action,
            target,
            json.dumps(details, sort_keys=True) if details else None,
            address,
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One line of the admin audit log."""

    at_ms: int
    staff_id: str
    action: str
    target: str | None
    details: dict[str, Any]
    address: str | None


def recent_audit(rt: Runtime, *, limit: int = 50) -> list[AuditEntry]:
    """The admin audit log, newest first."""
    return [
        AuditEntry(
            at_ms=row["at_ms"],
            staff_id=row["staff_id"],
            action=row["action"],
            target=row["target"],
            details=json.loads(row["details"]) if row["details"] else {},
            address=row["address"],
        )
        for row in rt.db.query("SELECT * FROM admin_audit ORDER BY id DESC LIMIT ?", (limit,))
    ]
