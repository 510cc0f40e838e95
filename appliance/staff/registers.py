"""Registers: pairing a tablet (a device token), listing and revoking."""

from __future__ import annotations

import hashlib
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


def pair_register(
    rt: Runtime, *, name: str, manager_pin: str, address: str
) -> tuple[Register, str]:
    """Pair a tablet on the spot: a manager's PIN approves it. Wrong PINs lock the address."""
    name = clean_register_name(name)
    rt.address_guard.check(address, rt.now_ms())
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
