"""Transfers between stores, as this store knows them (decisions.md §55).

`transfer` is the store's copy of each transfer it sends or receives, as the cloud last said
(pulled on the store's `rpc/transfers` topic, `cloud_transfers.version` the change number
applied), plus the ones asked for here and not heard back yet. Lines are by SKU (the chain's
key). What this store itself did (approved, shipped, received) is in its journal, read through
`event_transfer`, so an action taken offline shows at once and is never lost to a pull.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE transfer (
        id TEXT PRIMARY KEY,
        from_store TEXT NOT NULL,
        to_store TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('requested', 'approved', 'shipped', 'received', 'cancelled')),
        note TEXT,
        requested_in TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        lines TEXT NOT NULL,
        shipped TEXT NOT NULL DEFAULT '[]',
        cloud_seq INTEGER,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX transfer_updated ON transfer (updated_ms)",
    """CREATE TABLE cloud_transfers (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL DEFAULT 0,
        head INTEGER,
        pulled_ms INTEGER,
        problem TEXT
    )""",
    "INSERT INTO cloud_transfers (id, version) VALUES (1, 0)",
    "CREATE INDEX event_transfer ON event (envelope ->> '$.body.transfer', type)"
    " WHERE type LIKE 'transfer.%'",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the transfer copy and the pull's state, and index the journal's transfer events."""
    for statement in STATEMENTS:
        db.execute(statement)
