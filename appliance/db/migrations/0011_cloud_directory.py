"""What the cloud holds of this store's directory (staff, registers, reason codes, settings,
variant ids), and what a restore from the cloud found missing.

The directory is not events, so it does not travel in the journal: the uplink sends it as a
versioned snapshot, and the variants' local ids (which events name) in order of their rowid,
each acknowledged by the cloud (decisions.md §42). A restored appliance keeps its report of
the gap the dead one left until the registers have filled it.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    # One row: the single-row CHECK keeps it so.
    """CREATE TABLE cloud_directory (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        -- The snapshot last built: its version (grows by one when its content changes) and
        -- the content's hash; the version the cloud has acknowledged.
        version INTEGER NOT NULL CHECK (version >= 0),
        hash TEXT,
        acked_version INTEGER NOT NULL DEFAULT 0,
        acked_ms INTEGER,
        -- variant.id through which the cloud holds the variants' ids.
        variants_through INTEGER NOT NULL DEFAULT 0,
        problem TEXT
    )""",
    "INSERT INTO cloud_directory (id, version) VALUES (1, 0)",
    # Written once by `tillbox appliance restore --from-cloud`.
    """CREATE TABLE restore_report (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        restored_ms INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        previous_origin TEXT NOT NULL,
        -- The cloud's cursor when the restore read it: everything after it was lost with the
        -- dead appliance unless a register still holds it.
        applied_through INTEGER NOT NULL,
        -- The dead appliance's own count of unsynced events in its last heartbeat, if any.
        last_outbox_depth INTEGER,
        last_heartbeat_ms INTEGER
    )""",
    # Per origin, the cloud's last seq at the restore.
    """CREATE TABLE restore_origin (
        origin TEXT PRIMARY KEY,
        cloud_seq INTEGER NOT NULL
    ) WITHOUT ROWID""",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create cloud_directory (nothing sent yet) and the restore report tables."""
    for statement in STATEMENTS:
        db.execute(statement)
