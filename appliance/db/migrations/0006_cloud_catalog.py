"""Where the store stands with the cloud's catalog: the version applied, the head last heard,
and why the last page was refused, if it was.

Written in the transaction that applies a page of the cloud's changes, so after a crash the
pull carries on from the last page applied, and `GET /api/v1/sync/status` reads it.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    # One row: the single-row CHECK keeps it so.
    """CREATE TABLE cloud_catalog (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL CHECK (version >= 0),
        head INTEGER,
        applied_ms INTEGER,
        problem TEXT,
        problem_ms INTEGER
    )""",
    "INSERT INTO cloud_catalog (id, version) VALUES (1, 0)",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create cloud_catalog with nothing applied."""
    for statement in STATEMENTS:
        db.execute(statement)
