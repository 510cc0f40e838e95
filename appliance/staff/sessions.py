"""Who is calling: device tokens, staff PIN logins, idle expiry."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import Forbidden, Unauthorized
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember, get_staff
from appliance.staff.lockout import check_unlocked, clear_failures, record_failure
from appliance.staff.pins import valid_pin
from appliance.staff.registers import (
    DEVICE_PREFIX,
    Register,
    new_token,
    register_from_row,
    token_hash,
)
from protocol.permissions import Role

SESSION_PREFIX = "tbs_"
# Refreshing last-seen costs a durable write; doing it at most this often keeps reads cheap.
TOUCH_EVERY_MS = 30_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """The authenticated caller of a request: a register, and the staff member logged in on it."""

    register: Register
    staff: StaffMember | None = None
    session: str | None = None

    @property
    def role(self) -> Role | None:
        """The logged-in staff member's role, or None for a register without a login."""
        return None if self.staff is None else self.staff.role

    def require_staff(self) -> StaffMember:
        """The logged-in staff member, or Unauthorized when only the device is known."""
        if self.staff is None:
            raise Unauthorized("log in with a staff PIN first", code="login_required")
        return self.staff


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A new staff session: the bearer token is shown once."""

    token: str
    caller: Caller
    idle_timeout_s: int
    expires_at_ms: int


def resolve(rt: Runtime, token: str) -> Caller:
    """The caller a bearer token stands for, or Unauthorized."""
    if token.startswith(DEVICE_PREFIX):
        row = rt.db.one(
            "SELECT * FROM register WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash(token),),
        )
        if row is None:
            raise Unauthorized("this device token is unknown or revoked", code="bad_token")
        return Caller(register=register_from_row(row))
    if token.startswith(SESSION_PREFIX):
        return _resolve_session(rt, token_hash(token))
    raise Unauthorized(
        "send a device or staff token as `Authorization: Bearer …`", code="bad_token"
    )


def _resolve_session(rt: Runtime, digest: str) -> Caller:
    # One query for the session, its register and its staff member: every request runs it.
    row = rt.db.one(
        "SELECT s.staff_id, s.register_id, s.created_ms, s.last_seen_ms, s.ended_ms,"
        " r.id, r.name, r.created_at, r.paired_by, r.revoked_at,"
        " r.locked_until_ms AS register_locked_until_ms,"
        " st.name AS staff_name, st.role, st.active, st.locked_until_ms"
        " FROM staff_session s JOIN register r ON r.id = s.register_id"
        " JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = ?",
        (digest,),
    )
    if (
        row is None
        or row["ended_ms"] is not None
        or row["revoked_at"] is not None
        or not row["active"]
    ):
        raise Unauthorized("this staff session has ended; log in again", code="session_ended")
    now = rt.now_ms()
    settings = rt.settings
    if now - row["last_seen_ms"] > settings.staff_idle_minutes * 60_000:
        raise Unauthorized("the session expired while idle; log in again", code="session_expired")
    if now - row["created_ms"] > settings.staff_session_max_hours * 3_600_000:
        raise Unauthorized("the session is too old; log in again", code="session_expired")
    if now - row["last_seen_ms"] > TOUCH_EVERY_MS:
        with rt.db.write():
            rt.db.execute(
                "UPDATE staff_session SET last_seen_ms = ? WHERE token_hash = ? AND last_seen_ms < ?",
                (now, digest, now),
            )
    return Caller(
        register=Register(
            id=row["id"],
            name=row["name"],
            created_at=row["created_at"],
            paired_by=row["paired_by"],
            revoked_at=row["revoked_at"],
            locked_until_ms=row["register_locked_until_ms"],
        ),
        staff=StaffMember(
            id=row["staff_id"],
            name=row["staff_name"],
            role=Role.parse(row["role"]),
            active=bool(row["active"]),
            locked_until_ms=row["locked_until_ms"],
        ),
        session=digest,
    )


def start_session(rt: Runtime, register: Register, *, staff_id: str, pin: str) -> Session:
    """Log a staff member in on a register with their PIN. Wrong PINs count against both."""
    check_unlocked(rt, "register", register.id)
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
    now = rt.now_ms()
    with rt.db.write():
        if not ok:
            record_failure(rt, "register", register.id)
            if known is not None:
                record_failure(rt, "staff", staff_id)
        else:
            clear_failures(rt, "register", register.id)
            clear_failures(rt, "staff", staff_id)
            token = new_token(SESSION_PREFIX)
            rt.db.execute(
                "INSERT INTO staff_session (token_hash, staff_id, register_id, created_ms, last_seen_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash(token), staff_id, register.id, now, now),
            )
    if not ok:
        # The try that reaches the limit says so at once, rather than a plain "wrong PIN".
        check_unlocked(rt, "register", register.id)
        if known is not None:
            check_unlocked(rt, "staff", staff_id)
        raise Unauthorized("wrong staff member or PIN", code="wrong_pin")
    caller = Caller(register=register, staff=get_staff(rt, staff_id), session=token_hash(token))
    return Session(
        token=token,
        caller=caller,
        idle_timeout_s=rt.settings.staff_idle_minutes * 60,
        expires_at_ms=now + rt.settings.staff_session_max_hours * 3_600_000,
    )


def end_session(rt: Runtime, caller: Caller) -> None:
    """Log out: the session token stops working at once."""
    if caller.session is None:
        raise Forbidden("only a staff session can be ended", code="not_a_session")
    with rt.db.write():
        rt.db.execute(
            "UPDATE staff_session SET ended_ms = ? WHERE token_hash = ? AND ended_ms IS NULL",
            (rt.now_ms(), caller.session),
        )
