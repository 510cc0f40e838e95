"""Stock counts in progress: started on the admin pages, filled in by scan or by hand over
minutes or hours, then posted as one `stock.counted` event (whose `count` is the draft's id).

A draft is not stock: nothing here moves on-hand, and the journal holds only the posted
count. A posted draft keeps its event's id, so it cannot be posted twice.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE count_draft (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL CHECK (scope IN ('full', 'cycle')),
        blind INTEGER NOT NULL CHECK (blind IN (0, 1)),
        started_by TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        posted_event TEXT,
        posted_ms INTEGER,
        discarded_ms INTEGER
    ) WITHOUT ROWID""",
    """CREATE TABLE count_draft_line (
        draft TEXT NOT NULL REFERENCES count_draft (id),
        variant TEXT NOT NULL,
        counted INTEGER NOT NULL CHECK (counted >= 0),
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (draft, variant)
    ) WITHOUT ROWID""",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the count drafts, empty."""
    for statement in STATEMENTS:
        db.execute(statement)
