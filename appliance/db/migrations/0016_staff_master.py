"""The chain's staff master (decisions.md §57): HQ's staff changes pulled like the catalog's,
this store's own staff edits marked until HQ's echo of them arrives, and PIN lockouts counted
so head office sees them.

`staff.hq_seq` is the last HQ change applied to the person here; `staff.changed` lists the
fields (name, role, active, pin) changed here since, comma-separated; `staff.lockouts` counts
the PIN lockouts. `cloud_staff` is the pull's state, as `cloud_catalog` is the catalog's.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    "ALTER TABLE staff ADD COLUMN hq_seq INTEGER",
    "ALTER TABLE staff ADD COLUMN changed TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE staff ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE cloud_staff (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        -- The staff change number applied here, the head last heard, and the last problem.
        version INTEGER NOT NULL CHECK (version >= 0),
        head INTEGER,
        applied_ms INTEGER,
        problem TEXT,
        problem_ms INTEGER
    )""",
    "INSERT INTO cloud_staff (id, version) VALUES (1, 0)",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Add the staff columns and cloud_staff (nothing pulled yet)."""
    for statement in STATEMENTS:
        db.execute(statement)
