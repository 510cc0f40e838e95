"""The manager's admin pages: browser sessions, the admin audit log and register pairing codes.

An admin session is a browser's sign-in to /admin (a cookie holding a random token, stored
here only as its SHA-256, like device and staff tokens), with its CSRF token. It is not a
staff_session: those belong to a register. The audit log records who changed what from the
admin pages. A pairing code lets a manager pair a tablet from the admin pages: the tablet
types it where it would take a manager's PIN; it is good once, for a few minutes.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE admin_session (
        token_hash TEXT PRIMARY KEY,
        staff_id TEXT NOT NULL REFERENCES staff (id),
        csrf_token TEXT NOT NULL,
        address TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        -- Shown once on the next page after a change ("Printer added"), then cleared.
        notice TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX admin_session_staff ON admin_session (staff_id, ended_ms)",
    """CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        staff_id TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        -- JSON: what was asked for (never a PIN).
        details TEXT,
        address TEXT
    )""",
    "CREATE INDEX admin_audit_at ON admin_audit (at_ms)",
    """CREATE TABLE pairing_code (
        code_hash TEXT PRIMARY KEY,
        created_by TEXT NOT NULL REFERENCES staff (id),
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms INTEGER,
        register_id TEXT REFERENCES register (id)
    ) WITHOUT ROWID""",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the admin session, audit and pairing code tables."""
    for statement in STATEMENTS:
        db.execute(statement)
