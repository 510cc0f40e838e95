"""Per origin, the highest seq the cloud has applied: what a register may stop holding.

Kept beside the cloud cursor, in the same transaction, so `GET /api/v1/sync/status` reads it
with one lookup per origin instead of searching the journal on every register's poll.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE cloud_origin (
        origin TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """INSERT INTO cloud_origin (origin, seq)
        SELECT e.origin, MAX(e.seq) FROM event e, cloud_cursor c
        WHERE c.id = 1 AND e.store_seq <= c.applied_through GROUP BY e.origin""",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create cloud_origin from the cloud cursor as it stands."""
    for statement in STATEMENTS:
        db.execute(statement)
