"""Staff members: adding, changing, listing, and matching a PIN to a person."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.errors import Conflict, Invalid, NotFound
from appliance.oneline import one_line
from appliance.runtime import Runtime
from appliance.staff.lockout import clear_failures
from appliance.staff.pins import valid_pin
from protocol.envelope import format_at
from protocol.permissions import Role
from protocol.staff import FIELDS


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffMember:
    """A person who can log in on a register."""

    id: str
    name: str
    role: Role
    active: bool
    locked_until_ms: int | None

    def to_json(self, now_ms: int) -> dict[str, object]:
        """As the API shows a staff member (never the PIN hash)."""
        locked = self.locked_until_ms is not None and self.locked_until_ms > now_ms
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.slug,
            "active": self.active,
            "locked": locked,
            "locked_until_ms": self.locked_until_ms if locked else None,
        }


_COLUMNS = "id, name, role, active, locked_until_ms, pin_hash"


def _member(row: sqlite3.Row) -> StaffMember:
    return StaffMember(
        id=row["id"],
        name=row["name"],
        role=Role.parse(row["role"]),
        active=bool(row["active"]),
        locked_until_ms=row["locked_until_ms"],
    )


def clean_name(name: str) -> str:
    """A staff name as stored, or Invalid."""
    return one_line(name, what="a name", max_length=80, code="invalid_name")


def _check_pin(pin: str) -> None:
    if not valid_pin(pin):
        raise Invalid("a PIN is 4 to 6 digits", code="invalid_pin")


def get_staff(rt: Runtime, staff_id: str) -> StaffMember:
    """One staff member, or NotFound."""
    row = rt.db.one(f"SELECT {_COLUMNS} FROM staff WHERE id = ?", (staff_id,))
    if row is None:
        raise NotFound(f"no staff member {staff_id}")
    return _member(row)


def list_staff(rt: Runtime, *, include_inactive: bool = False) -> list[StaffMember]:
    """Staff members by name."""
    where = "" if include_inactive else "WHERE active = 1"
    return [
        _member(row)
        for row in rt.db.query(
            f"SELECT {_COLUMNS} FROM staff {where} ORDER BY name COLLATE NOCASE, id"
        )
    ]


def match_pin(
    rt: Runtime, pin: str, candidates: Iterable[str], *, exclude: str | None = None
) -> StaffMember | None:
    """The active staff member among `candidates` (ids) whose PIN this is, or None.

    Each check is a full argon2id verification, so callers keep the candidate list short.
    """
    for staff_id in candidates:
        if staff_id == exclude:
            continue
        row = rt.db.one(f"SELECT {_COLUMNS} FROM staff WHERE id = ? AND active = 1", (staff_id,))
        if row is not None and rt.pins.verify(row["pin_hash"], pin):
            return _member(row)
    return None


def pin_in_use(rt: Runtime, pin: str, *, exclude: str | None = None) -> bool:
    """True when another active staff member already has this PIN.

    PINs are unique in a store, so a supervisor's PIN alone identifies them at the till.
    """
    ids = [row["id"] for row in rt.db.query("SELECT id FROM staff WHERE active = 1")]
    return match_pin(rt, pin, ids, exclude=exclude) is not None


def _next_id(rt: Runtime) -> str:
    prefix = f"{rt.store}-staff-"
    numbers = [
        int(row[0][len(prefix) :])
        for row in rt.db.query("SELECT id FROM staff WHERE id LIKE ?", (prefix + "%",))
        if row[0][len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(numbers, default=0) + 1}"


def add_staff(rt: Runtime, *, name: str, role: Role, pin: str) -> StaffMember:
    """Add a staff member with a unique PIN."""
    name = clean_name(name)
    _check_pin(pin)
    with rt.pins.assigning:
        if pin_in_use(rt, pin):
            raise Conflict("another staff member already uses this PIN", code="pin_in_use")
        pin_hash = rt.pins.hash(pin)
        with rt.db.write():
            staff_id = _next_id(rt)
            now = format_at(rt.now_ms())
            # Everything about them is this store's until head office has taken them in.
            rt.db.execute(
                "INSERT INTO staff (id, name, role, pin_hash, created_at, updated_at, changed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (staff_id, name, role.slug, pin_hash, now, now, ",".join(FIELDS)),
            )
    return get_staff(rt, staff_id)


def update_staff(
    rt: Runtime,
    staff_id: str,
    *,
    name: str | None = None,
    role: Role | None = None,
    pin: str | None = None,
    active: bool | None = None,
) -> StaffMember:
    """Change a staff member's name, role, PIN or active flag."""
    current = get_staff(rt, staff_id)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if role is not None:
        changes["role"] = role.slug
    if active is not None:
        changes["active"] = int(active)
    if pin is not None:
        _check_pin(pin)
    if active and not current.active and pin is None:
        # Their old PIN may have gone to someone else meanwhile; PINs must stay unique.
        raise Invalid("give a new PIN when bringing a staff member back", code="pin_required")
    if not changes and pin is None:
        return current
    with rt.pins.assigning:
        if pin is not None:
            if pin_in_use(rt, pin, exclude=staff_id):
                raise Conflict("another staff member already uses this PIN", code="pin_in_use")
            changes["pin_hash"] = rt.pins.hash(pin)
        _write_changes(rt, current, changes, active=active)
    return get_staff(rt, staff_id)


def _write_changes(
    rt: Runtime, current: StaffMember, changes: dict[str, object], *, active: bool | None
) -> None:
    """Store a staff member's changes, keeping at least one active manager."""
    staff_id = current.id
    with rt.db.write():
        if current.role is Role.MANAGER and (
            changes.get("active") == 0 or changes.get("role", "manager") != "manager"
        ):
            others = rt.db.scalar(
                "SELECT count(*) FROM staff WHERE role = 'manager' AND active = 1 AND id != ?",
                (staff_id,),
            )
            if not others:
                raise Conflict(
                    "the store must keep at least one active manager", code="last_manager"
                )
        assignments = ", ".join(f"{column} = ?" for column in changes)
        rt.db.execute(
            f"UPDATE staff SET {assignments}, updated_at = ? WHERE id = ?",
            (*changes.values(), format_at(rt.now_ms()), staff_id),
        )
        mark_changed(rt, staff_id, _edited(current, changes))
        if active is False:
            rt.db.execute(
                "UPDATE staff_session SET ended_ms = ? WHERE staff_id = ? AND ended_ms IS NULL",
                (rt.now_ms(), staff_id),
            )


def _edited(current: StaffMember, changes: dict[str, object]) -> set[str]:
    """The synced fields (protocol.staff.FIELDS) an edit really changes."""
    edited = set()
    if "name" in changes and changes["name"] != current.name:
        edited.add("name")
    if "role" in changes and changes["role"] != current.role.slug:
        edited.add("role")
    if "active" in changes and bool(changes["active"]) != current.active:
        edited.add("active")
    if "pin_hash" in changes:
        edited.add("pin")
    return edited


def changed_fields(text: str) -> set[str]:
    """`staff.changed` as a set of field names."""
    return {f for f in text.split(",") if f in FIELDS}


def mark_changed(rt: Runtime, staff_id: str, fields: set[str]) -> None:
    """Note fields edited here, for head office to take in (decisions.md §57). Call inside
    a write."""
    if not fields:
        return
    text = rt.db.scalar("SELECT changed FROM staff WHERE id = ?", (staff_id,)) or ""
    merged = changed_fields(str(text)) | fields
    rt.db.execute(
        "UPDATE staff SET changed = ? WHERE id = ?",
        (",".join(f for f in FIELDS if f in merged), staff_id),
    )


def unlock_staff(rt: Runtime, staff_id: str) -> StaffMember:
    """Lift a PIN lockout early."""
    get_staff(rt, staff_id)
    with rt.db.write():
        clear_failures(rt, "staff", staff_id)
    return get_staff(rt, staff_id)
