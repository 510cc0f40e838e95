"""Registers: pairing a tablet (a device token, by a manager's PIN or a pairing code), listing
and revoking."""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass

from appliance.errors import NotFound, Unauthorized
from appliance.oneline import one_line
from appliance.runtime import Runtime
from appliance.staff.directory import match_pin
from appliance.staff.lockout import clear_failures
from appliance.staff.pins import valid_pin
from protocol.envelope import format_at

DEVICE_PREFIX = "tbd_"
# A pairing code from the admin pages: typed on the tablet's keypad in place of a manager's
# PIN, so it is digits, and longer than any PIN so the two never meet. Good once, briefly.
PAIRING_CODE_RE = re.compile(r"^[0-9]{8}$")
PAIRING_CODE_TTL_MS = 10 * 60_000
# Used and expired codes are kept this long (who paired what), then deleted.
PAIRING_CODE_KEEP_MS = 7 * 24 * 3_600_000


def token_hash(token: str) -> str:
    """Tokens are stored only as their SHA-256, so a copied database grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A random bearer token whose prefix tells its kind (device, staff session, approval)."""
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class Register:
    """A paired tablet that sells as one origin, e.g. `s01-r02`."""

    id: str
    name: str
    created_at: str
    paired_by: str | None
    revoked_at: str | None
    locked_until_ms: int | None = None

    def to_json(self) -> dict[str, object]:
        """As the API shows a register."""
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "paired_by": self.paired_by,
            "revoked": self.revoked_at is not None,
            "revoked_at": self.revoked_at,
            "locked_until_ms": self.locked_until_ms,
        }


def register_from_row(row: sqlite3.Row) -> Register:
    """A register from a `SELECT * FROM register` row."""
    return Register(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        paired_by=row["paired_by"],
        revoked_at=row["revoked_at"],
        locked_until_ms=row["locked_until_ms"],
    )


def clean_register_name(name: str) -> str:
    """A register name as stored, or Invalid."""
    return one_line(name, what="a register name", max_length=60, code="invalid_name")


def add_register(rt: Runtime, name: str, *, paired_by: str | None = None) -> tuple[Register, str]:
    """Create a register and its device token. The token is shown once and never stored."""
    name = clean_register_name(name)
    token = new_token(DEVICE_PREFIX)
    with rt.db.write():
        prefix = f"{rt.store}-r"
        numbers = [
            int(row[0][len(prefix) :])
            for row in rt.db.query("SELECT id FROM register WHERE id LIKE ?", (prefix + "%",))
            if row[0][len(prefix) :].isdigit()
        ]
        register_id = f"{prefix}{max(numbers, default=0) + 1:02d}"
        rt.db.execute(
            "INSERT INTO register (id, name, token_hash, created_at, paired_by) VALUES (?, ?, ?, ?, ?)",
            (register_id, name, token_hash(token), format_at(rt.now_ms()), paired_by),
        )
    return get_register(rt, register_id), token


@dataclass(frozen=True, slots=True, kw_only=True)
class PairingCode:
    """A one-time code a manager gives to a tablet to pair it; shown once, stored hashed."""

    code: str
    created_by: str
    expires_ms: int


def issue_pairing_code(rt: Runtime, *, manager_id: str) -> PairingCode:
    """A new pairing code, good once for PAIRING_CODE_TTL_MS, approved by `manager_id`."""
    code = f"{secrets.randbelow(10**8):08d}"
    now = rt.now_ms()
    with rt.db.write():
        rt.db.execute(
            "DELETE FROM pairing_code WHERE expires_ms < ?", (now - PAIRING_CODE_KEEP_MS,)
        )
        rt.db.execute(
            "INSERT INTO pairing_code (code_hash, created_by, created_ms, expires_ms)"
            " VALUES (?, ?, ?, ?)",
            (token_hash(code), manager_id, now, now + PAIRING_CODE_TTL_MS),
        )
    return PairingCode(code=code, created_by=manager_id, expires_ms=now + PAIRING_CODE_TTL_MS)


def _pair_with_code(rt: Runtime, name: str, code: str) -> tuple[Register, str] | None:
    """Pair with an unused, unexpired code whose manager is still an active manager."""
    with rt.db.write():
        row = rt.db.one(
            "SELECT p.created_by FROM pairing_code p JOIN staff s ON s.id = p.created_by"
            " WHERE p.code_hash = ? AND p.used_ms IS NULL AND p.expires_ms > ?"
            " AND s.active = 1 AND s.role = 'manager'",
            (token_hash(code), rt.now_ms()),
        )
        if row is None:
            return None
        register, token = add_register(rt, name, paired_by=row["created_by"])
        rt.db.execute(
            "UPDATE pairing_code SET used_ms = ?, register_id = ? WHERE code_hash = ?",
            (rt.now_ms(), register.id, token_hash(code)),
        )
    return register, token


def pair_register(
    rt: Runtime, *, name: str, manager_pin: str, address: str
) -> tuple[Register, str]:
    """Pair a tablet on the spot: a manager's PIN, or a pairing code a manager made on the
    admin pages, approves it. Wrong PINs and codes lock the address."""
    name = clean_register_name(name)
    rt.address_guard.check(address, rt.now_ms())
    if PAIRING_CODE_RE.fullmatch(manager_pin):
        paired = _pair_with_code(rt, name, manager_pin)
        if paired is not None:
            rt.address_guard.clear(address)
            return paired
        rt.address_guard.fail(address, rt.now_ms())
        rt.address_guard.check(address, rt.now_ms())
        raise Unauthorized(
            "that pairing code is unknown, used or expired; make a new one", code="wrong_code"
        )
    managers = [
        row["id"]
        for row in rt.db.query("SELECT id FROM staff WHERE role = 'manager' AND active = 1")
    ]
    approver = match_pin(rt, manager_pin, managers) if valid_pin(manager_pin) else None
    if approver is None:
        rt.address_guard.fail(address, rt.now_ms())
        rt.address_guard.check(address, rt.now_ms())
        raise Unauthorized("that is not a manager's PIN", code="wrong_pin")
    rt.address_guard.clear(address)
    return add_register(rt, name, paired_by=approver.id)


def get_register(rt: Runtime, register_id: str) -> Register:
    """One register, or NotFound."""
    row = rt.db.one("SELECT * FROM register WHERE id = ?", (register_id,))
    if row is None:
        raise NotFound(f"no register {register_id}")
    return register_from_row(row)


def list_registers(rt: Runtime) -> list[Register]:
    """Every register ever paired, revoked ones included."""
    return [register_from_row(row) for row in rt.db.query("SELECT * FROM register ORDER BY id")]


def unlock_register(rt: Runtime, register_id: str) -> Register:
    """Lift a register's PIN lockout early (call inside the write that authorised it)."""
    get_register(rt, register_id)
    with rt.db.write():
        clear_failures(rt, "register", register_id)
    return get_register(rt, register_id)


def revoke_register(rt: Runtime, register_id: str) -> Register:
    """Revoke a register's device token and end every staff session on it."""
    get_register(rt, register_id)
    with rt.db.write():
        rt.db.execute(
            "UPDATE register SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (format_at(rt.now_ms()), register_id),
        )
        rt.db.execute(
            "UPDATE staff_session SET ended_ms = ? WHERE register_id = ? AND ended_ms IS NULL",
            (rt.now_ms(), register_id),
        )
    return get_register(rt, register_id)
