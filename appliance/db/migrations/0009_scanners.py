"""Barcode scanners attached to the appliance, each bound to at most one register.

A scanner is known by a stable id (its USB port path, or the serial of a Bluetooth scanner,
which has no stable path), so it keeps its binding, layout, prefix and suffix when it is
unplugged and comes back under another /dev/input/eventN. `present` is what the running
appliance last saw: it is cleared at start and set while a reader holds the device.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE scanner (
        id INTEGER PRIMARY KEY,
        -- path:<ID_PATH> for a wired scanner, serial:<ID_SERIAL> for a Bluetooth one.
        stable_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        -- NULL: unbound, its scans are dropped (and logged).
        register TEXT REFERENCES register (id),
        layout TEXT NOT NULL DEFAULT 'us' CHECK (layout IN ('us', 'uk', 'de', 'fr')),
        prefix TEXT NOT NULL DEFAULT '',
        suffix TEXT NOT NULL DEFAULT '',
        bluetooth INTEGER NOT NULL DEFAULT 0 CHECK (bluetooth IN (0, 1)),
        -- vvvv:pppp in hex, when udev knows it.
        vendor_product TEXT,
        present INTEGER NOT NULL DEFAULT 0 CHECK (present IN (0, 1)),
        last_seen_ms INTEGER,
        created_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX scanner_register ON scanner (register) WHERE register IS NOT NULL",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the scanner table."""
    for statement in STATEMENTS:
        db.execute(statement)
