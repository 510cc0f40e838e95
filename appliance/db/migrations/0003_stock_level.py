"""On-hand per variant as a projection of the stock ledger, kept as movements are booked.

Checking a sale for negative stock used to fold the variant's ledger since its last count:
work that grows with every sale of a variant never counted. The level row makes it one
primary-key read. It keeps the anchoring count's stamp, so a movement that arrives late
(replayed from offline, stamped before the last count) leaves on-hand alone, as the fold does.
"""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

STATEMENTS = (
    """CREATE TABLE stock_level (
        variant TEXT PRIMARY KEY,
        on_hand INTEGER NOT NULL,
        anchor_wall INTEGER,
        anchor_counter INTEGER,
        anchor_node TEXT,
        anchor_origin TEXT
    ) WITHOUT ROWID""",
    # The partial index finds a variant's anchoring count without reading its sales.
    "CREATE INDEX stock_ledger_count ON stock_ledger"
    " (variant, hlc_wall, hlc_counter, hlc_node, origin, event, qty) WHERE kind = 'count'",
    # Every variant with movements, by the same fold (a copy of appliance.stock's; a shipped
    # migration must not change when that code does).
    """INSERT INTO stock_level (variant, on_hand, anchor_wall, anchor_counter, anchor_node,
            anchor_origin)
        SELECT v.variant,
            COALESCE(a.qty, 0) + COALESCE((
                SELECT SUM(l.qty) FROM stock_ledger l
                WHERE l.variant = v.variant AND l.kind != 'count'
                AND (a.hlc_wall IS NULL
                     OR (l.hlc_wall, l.hlc_counter, l.hlc_node, l.origin, l.kind)
                        > (a.hlc_wall, a.hlc_counter, a.hlc_node, a.origin, 'count'))
            ), 0),
            a.hlc_wall, a.hlc_counter, a.hlc_node, a.origin
        FROM (SELECT DISTINCT variant FROM stock_ledger) v
        LEFT JOIN stock_ledger a ON (a.event, a.line) = (
            SELECT c.event, c.line FROM stock_ledger c
            WHERE c.variant = v.variant AND c.kind = 'count'
            ORDER BY c.hlc_wall DESC, c.hlc_counter DESC, c.hlc_node DESC, c.origin DESC,
                c.event DESC, c.qty DESC
            LIMIT 1)""",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create stock_level and fill it from the ledger."""
    for statement in STATEMENTS:
        db.execute(statement)
