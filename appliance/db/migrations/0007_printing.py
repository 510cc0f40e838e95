"""Receipt printers, which register prints where, the durable print queue and the drawer log.

A print job is written in the same transaction as the event that asks for it (a sale paid in
cash, a receipt.requested, a no-sale), so a committed sale always gets its receipt and its
drawer opening, and nothing prints for an event that was refused. The print worker takes
jobs after the commit (ARCHITECTURE.md, principle 1), retrying a receipt while the printer is
away; a drawer kick is only tried for a short while, since a drawer that opens minutes later
is worse than one that does not open.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE printer (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        -- network (host:port, the 9100 protocol), usb (vendor:product), serial (device),
        -- file (a device file such as /dev/usb/lp0) or demo (a folder of PNG and text).
        connection TEXT NOT NULL CHECK (connection IN ('network', 'usb', 'serial', 'file', 'demo')),
        address TEXT NOT NULL,
        profile TEXT NOT NULL DEFAULT 'default',
        width INTEGER NOT NULL DEFAULT 48 CHECK (width BETWEEN 24 AND 64),
        drawer_pin INTEGER NOT NULL DEFAULT 2 CHECK (drawer_pin IN (2, 5)),
        drawer_on_ms INTEGER NOT NULL DEFAULT 100 CHECK (drawer_on_ms BETWEEN 2 AND 510),
        drawer_off_ms INTEGER NOT NULL DEFAULT 100 CHECK (drawer_off_ms BETWEEN 2 AND 510),
        -- The last status heard (JSON: online, paper_out, paper_low, cover_open, drawer_open).
        status TEXT,
        status_ms INTEGER,
        created_ms INTEGER NOT NULL,
        removed_ms INTEGER
    )""",
    """CREATE TABLE register_printer (
        register TEXT PRIMARY KEY REFERENCES register (id),
        printer INTEGER NOT NULL REFERENCES printer (id)
    ) WITHOUT ROWID""",
    """CREATE TABLE print_job (
        id INTEGER PRIMARY KEY,
        printer INTEGER NOT NULL REFERENCES printer (id),
        register TEXT,
        -- receipt, gift, reprint, x_report, z_report, test, drawer
        kind TEXT NOT NULL,
        ref TEXT,
        -- The event that asked for it: one job per event and kind, however often it is pushed.
        event TEXT,
        staff TEXT,
        reason TEXT,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'done', 'failed', 'cancelled')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        last_error TEXT,
        created_ms INTEGER NOT NULL,
        done_ms INTEGER,
        UNIQUE (event, kind)
    )""",
    "CREATE INDEX print_job_due ON print_job (state, next_attempt_ms) WHERE state = 'queued'",
    """CREATE TABLE drawer_kick (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        register TEXT,
        staff TEXT,
        reason TEXT NOT NULL,
        event TEXT,
        printer INTEGER REFERENCES printer (id),
        job INTEGER REFERENCES print_job (id),
        -- sent: the pulse went to the printer; failed: the printer could not be reached.
        outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'failed')),
        error TEXT
    )""",
    "CREATE INDEX drawer_kick_at ON drawer_kick (at_ms)",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the printer, binding, queue and drawer log tables."""
    for statement in STATEMENTS:
        db.execute(statement)
