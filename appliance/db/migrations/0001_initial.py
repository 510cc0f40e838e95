"""Initial schema: store facts, catalog with search and change feed, staff, registers, journal."""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

# Frozen SQL, not peewee models: a shipped migration must never change when models do.
STATEMENTS = (
    # Facts about this store (id, name, currency) that must travel with the database file.
    """CREATE TABLE store_info (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    # ---- catalog ------------------------------------------------------------------------
    """CREATE TABLE category (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
    )""",
    """CREATE TABLE vendor (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
    )""",
    """CREATE TABLE product (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        category_id INTEGER REFERENCES category (id),
        vendor_id INTEGER REFERENCES vendor (id)
    )""",
    """CREATE TABLE variant (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        product_id INTEGER NOT NULL REFERENCES product (id),
        sku TEXT NOT NULL UNIQUE COLLATE NOCASE,
        options TEXT NOT NULL DEFAULT '{}',
        cost INTEGER CHECK (cost IS NULL OR cost >= 0),
        price INTEGER NOT NULL CHECK (price >= 0),
        tax_class TEXT NOT NULL,
        reorder_point INTEGER CHECK (reorder_point IS NULL OR reorder_point >= 0),
        reorder_qty INTEGER CHECK (reorder_qty IS NULL OR reorder_qty >= 0),
        pack_size INTEGER NOT NULL DEFAULT 1 CHECK (pack_size >= 1),
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX variant_product ON variant (product_id)",
    # `code` is the lookup key: GTINs normalised to 14 digits so UPC-A, EAN-13 and GTIN-14
    # forms of one number collide; `display` is the code as printed on the pack.
    """CREATE TABLE barcode (
        code TEXT PRIMARY KEY,
        display TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('gtin', 'internal')),
        position INTEGER NOT NULL DEFAULT 0,
        variant_id INTEGER NOT NULL REFERENCES variant (id) ON DELETE CASCADE
    ) WITHOUT ROWID""",
    "CREATE INDEX barcode_variant ON barcode (variant_id)",
    # The change feed. One row per entity holding its latest document; a change deletes
    # the old row and inserts a new one, so AUTOINCREMENT gives a version that only grows.
    """CREATE TABLE catalog_feed (
        version INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        doc TEXT NOT NULL,
        UNIQUE (kind, key)
    )""",
    # Full-text search over active variants; rowid is variant.id.
    """CREATE VIRTUAL TABLE catalog_search USING fts5 (
        title, sku, barcodes, category,
        tokenize = "unicode61 remove_diacritics 2",
        prefix = '1 2 3'
    )""",
    # ---- staff and registers --------------------------------------------------------------
    """CREATE TABLE staff (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor', 'manager')),
        pin_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        failed_pins INTEGER NOT NULL DEFAULT 0,
        last_failed_ms INTEGER,
        locked_until_ms INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE register (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        paired_by TEXT,
        revoked_at TEXT,
        failed_pins INTEGER NOT NULL DEFAULT 0,
        last_failed_ms INTEGER,
        locked_until_ms INTEGER
    ) WITHOUT ROWID""",
    """CREATE TABLE staff_session (
        token_hash TEXT PRIMARY KEY,
        staff_id TEXT NOT NULL REFERENCES staff (id),
        register_id TEXT NOT NULL REFERENCES register (id),
        created_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        ended_ms INTEGER
    ) WITHOUT ROWID""",
    "CREATE INDEX staff_session_register ON staff_session (register_id, ended_ms)",
    # A single-use approval: bound to one action, one amount, one requester, one register.
    """CREATE TABLE approval (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        action TEXT NOT NULL,
        amount INTEGER,
        currency TEXT,
        requester_id TEXT NOT NULL REFERENCES staff (id),
        approver_id TEXT NOT NULL REFERENCES staff (id),
        register_id TEXT NOT NULL REFERENCES register (id),
        reason TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms INTEGER,
        used_for TEXT
    ) WITHOUT ROWID""",
    # ---- journal -------------------------------------------------------------------------
    """CREATE TABLE event (
        id TEXT PRIMARY KEY,
        origin TEXT NOT NULL,
        seq INTEGER NOT NULL,
        store_seq INTEGER NOT NULL UNIQUE,
        type TEXT NOT NULL,
        hlc_wall INTEGER NOT NULL,
        hlc_counter INTEGER NOT NULL,
        at TEXT NOT NULL,
        actor TEXT,
        envelope TEXT NOT NULL,
        hash TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        UNIQUE (origin, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX event_hlc ON event (hlc_wall, hlc_counter)",
    "CREATE INDEX event_type ON event (type, hlc_wall)",
    """CREATE TABLE origin_cursor (
        origin TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        last_hash TEXT NOT NULL
    ) WITHOUT ROWID""",
    # The override log: a searchable projection of override.granted events.
    """CREATE TABLE override_log (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES event (id),
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        amount INTEGER,
        currency TEXT,
        requester_id TEXT NOT NULL,
        approver_id TEXT NOT NULL,
        register_id TEXT,
        reason TEXT NOT NULL,
        offline INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    "CREATE INDEX override_log_at ON override_log (at)",
    "CREATE INDEX override_log_staff ON override_log (approver_id, at)",
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the initial schema."""
    for statement in STATEMENTS:
        db.execute(statement)
    # History is immutable: the journal and the override log refuse UPDATE and DELETE.
    for table in ("event", "override_log"):
        for verb in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
