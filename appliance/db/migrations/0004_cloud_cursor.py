"""The cloud's cursor: through which store_seq the cloud has applied this store's journal.

The journal is the outbox (decisions.md §29), so what the cloud acknowledges is one number.
It is kept in SQLite, written in the transaction that hears the ack, so after a restart the
uplink carries on from it and `GET /api/v1/sync/status` reads it.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    # One row: the single-row CHECK keeps it so.
    """CREATE TABLE cloud_cursor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        applied_through INTEGER NOT NULL CHECK (applied_through >= 0),
        last_ack_ms INTEGER
    )""",
    "INSERT INTO cloud_cursor (id, applied_through, last_ack_ms) VALUES (1, 0, NULL)",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create cloud_cursor with nothing applied."""
    for statement in STATEMENTS:
        db.execute(statement)
