"""Who sends each digital receipt: the cloud or this appliance (decisions.md §48).

Decided once, when the `receipt.requested` event is applied, from the `receipt_delivery`
setting then in force, and never changed: the uplink tells the cloud which requests are its
(the batch's `cloud_sends`), and the message worker sends only the appliance's own. Messages
queued before this migration were the appliance's to send, as they still are.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    "ALTER TABLE receipt_message ADD COLUMN sender TEXT NOT NULL DEFAULT 'appliance'"
    " CHECK (sender IN ('appliance', 'cloud'))",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Add receipt_message.sender."""
    for statement in STATEMENTS:
        db.execute(statement)
