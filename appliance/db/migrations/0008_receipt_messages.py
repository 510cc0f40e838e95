"""Digital receipts: each email or SMS a customer asked for, queued durably until sent.

A `receipt.requested` event for email or SMS writes its message here in the transaction that
applies it, so the request survives an outage or a restart. The appliance sends it itself
when it has an SMTP server or an SMS gateway configured; retries back off, and a message the
server refuses for good (a bad address) is marked failed with the reason.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE receipt_message (
        id INTEGER PRIMARY KEY,
        event TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
        address TEXT NOT NULL,
        receipt TEXT NOT NULL,
        gift INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error TEXT,
        created_ms INTEGER NOT NULL,
        sent_ms INTEGER
    )""",
    "CREATE INDEX receipt_message_due ON receipt_message (next_attempt_ms) WHERE state = 'queued'",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the digital receipt queue."""
    for statement in STATEMENTS:
        db.execute(statement)
