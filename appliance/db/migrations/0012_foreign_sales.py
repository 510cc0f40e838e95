"""Other stores' sales looked up for a return here (decisions.md §43).

`GET /api/v1/receipts/{number}` for another store's receipt asks the cloud and keeps its
answer here, priced by this appliance; the return that follows is checked against it inside
the push's transaction, where the cloud cannot be asked. Returns made here against it are
the ordinary `return_doc` and `return_line` rows, their `original_sale` its sale id.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE foreign_sale (
        id TEXT PRIMARY KEY,
        receipt TEXT NOT NULL UNIQUE,
        store TEXT NOT NULL,
        doc TEXT NOT NULL,
        fetched_ms INTEGER NOT NULL
    ) WITHOUT ROWID""",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create foreign_sale, empty."""
    for statement in STATEMENTS:
        db.execute(statement)
