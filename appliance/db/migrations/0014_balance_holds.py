"""Gift card and store credit payments made here (decisions.md §46).

`balance_hold`: holds the cloud granted this store for payments about to be made; a sale's
tender of that account and amount uses one up (`event`). `offline_redemption`: tenders paid
from an account with no hold (the cloud could not be asked), each counted against the
per-card `offline_redeem_limit` until the cloud has the sale.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE balance_hold (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        amount INTEGER NOT NULL CHECK (amount > 0),
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        event TEXT,
        released INTEGER NOT NULL DEFAULT 0 CHECK (released IN (0, 1))
    ) WITHOUT ROWID""",
    "CREATE INDEX balance_hold_open ON balance_hold (kind, reference, amount)"
    " WHERE event IS NULL AND released = 0",
    """CREATE TABLE offline_redemption (
        event TEXT NOT NULL,
        tender INTEGER NOT NULL,
        kind TEXT NOT NULL,
        reference TEXT NOT NULL,
        amount INTEGER NOT NULL,
        PRIMARY KEY (event, tender)
    ) WITHOUT ROWID""",
    "CREATE INDEX offline_redemption_card ON offline_redemption (kind, reference)",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create balance_hold and offline_redemption, empty."""
    for statement in STATEMENTS:
        db.execute(statement)
