"""Review flags: events kept although they broke a rule, waiting for a manager's note."""

from __future__ import annotations

import sqlite3

from appliance.api.schemas import FlagEntry
from appliance.errors import Conflict, NotFound
from appliance.oneline import one_line
from appliance.runtime import Runtime
from protocol.envelope import format_at

_SELECT = (
    "SELECT f.*, e.type, e.origin, e.seq, e.at, e.actor FROM review_flag f"
    " JOIN event e ON e.id = f.event"
)


def _entry(row: sqlite3.Row) -> FlagEntry:
    return FlagEntry(
        id=row["id"],
        event=row["event"],
        type=row["type"],
        origin=row["origin"],
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        code=row["code"],
        message=row["message"],
        resolved_by=row["resolved_by"],
        resolved_at=None if row["resolved_ms"] is None else format_at(row["resolved_ms"]),
        note=row["note"],
    )


def list_flags(
    rt: Runtime, *, open_only: bool, limit: int, newest_first: bool = False
) -> list[FlagEntry]:
    """Flags oldest first (or newest first); only unresolved ones unless asked."""
    where = "WHERE f.resolved_ms IS NULL" if open_only else ""
    order = "DESC" if newest_first else ""
    return [
        _entry(row)
        for row in rt.db.query(f"{_SELECT} {where} ORDER BY f.id {order} LIMIT ?", (limit,))
    ]


def get_flag(rt: Runtime, flag_id: int) -> FlagEntry:
    """One flag, resolved or not (NotFound when there is none)."""
    row = rt.db.one(f"{_SELECT} WHERE f.id = ?", (flag_id,))
    if row is None:
        raise NotFound(f"no review flag {flag_id}")
    return _entry(row)


def resolve(rt: Runtime, flag_id: int, manager: str, note: str) -> FlagEntry:
    """Record that a manager looked at a flag, with a note. The event is untouched."""
    note = one_line(note, what="the note", max_length=200, code="invalid_note")
    with rt.db.write():
        row = rt.db.one("SELECT resolved_ms FROM review_flag WHERE id = ?", (flag_id,))
        if row is None:
            raise NotFound(f"no review flag {flag_id}")
        if row["resolved_ms"] is not None:
            raise Conflict(f"flag {flag_id} was already reviewed", code="already_resolved")
        rt.db.execute(
            "UPDATE review_flag SET resolved_by = ?, resolved_ms = ?, note = ? WHERE id = ?",
            (manager, rt.now_ms(), note, flag_id),
        )
    found = rt.db.one(f"{_SELECT} WHERE f.id = ?", (flag_id,))
    assert found is not None
    return _entry(found)
