"""Selling: shifts, sales, returns, payments, cash, the stock ledger, reason codes, review flags."""

from __future__ import annotations

from playhouse.migrate import SqliteMigrator

from appliance.db import Database

# Projections of the journal: each row is derived from one event and can be rebuilt from it.
STATEMENTS = (
    # Reason codes for returns (with what happens to the goods), adjustments and cash moves.
    """CREATE TABLE reason_code (
        code TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('return', 'adjust', 'cash')),
        label TEXT NOT NULL,
        disposition TEXT CHECK (disposition IN ('restock', 'damaged', 'rtv')),
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        CHECK ((kind = 'return') = (disposition IS NOT NULL))
    ) WITHOUT ROWID""",
    # The price of each variant as of each catalog version, so a sale rung up at an older
    # version (offline during a price change) is checked against the price it saw.
    """CREATE TABLE price_history (
        variant TEXT NOT NULL,
        version INTEGER NOT NULL,
        price INTEGER NOT NULL,
        PRIMARY KEY (variant, version)
    ) WITHOUT ROWID""",
    """INSERT INTO price_history (variant, version, price)
        SELECT v.uid, f.version, v.price FROM variant v
        JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid""",
    """CREATE TABLE shift (
        id TEXT PRIMARY KEY,
        register TEXT NOT NULL,
        opened_event TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        opened_by TEXT,
        float_total INTEGER NOT NULL,
        float_counts TEXT NOT NULL,
        closed_event TEXT,
        closed_at TEXT,
        closed_by TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX shift_register ON shift (register, closed_event)",
    # Receipt numbers are not UNIQUE here: a replayed offline duplicate is kept and flagged.
    """CREATE TABLE sale (
        id TEXT PRIMARY KEY,
        receipt TEXT NOT NULL,
        register TEXT NOT NULL,
        shift TEXT NOT NULL,
        actor TEXT,
        at TEXT NOT NULL,
        catalog_version INTEGER NOT NULL,
        currency TEXT NOT NULL,
        subtotal INTEGER NOT NULL,
        discount INTEGER NOT NULL,
        tax INTEGER NOT NULL,
        total INTEGER NOT NULL,
        exchange_of TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX sale_receipt ON sale (receipt)",
    "CREATE INDEX sale_shift ON sale (shift)",
    "CREATE INDEX sale_at ON sale (at)",
    """CREATE TABLE sale_line (
        sale TEXT NOT NULL,
        line INTEGER NOT NULL,
        variant TEXT NOT NULL,
        qty INTEGER NOT NULL,
        qty_scale INTEGER NOT NULL,
        unit_price INTEGER NOT NULL,
        list_price INTEGER,
        gross INTEGER NOT NULL,
        line_discount INTEGER NOT NULL,
        order_discount INTEGER NOT NULL,
        net INTEGER NOT NULL,
        tax INTEGER NOT NULL,
        total INTEGER NOT NULL,
        tax_rate_ppm INTEGER NOT NULL,
        voided INTEGER NOT NULL,
        PRIMARY KEY (sale, line)
    ) WITHOUT ROWID""",
    """CREATE TABLE sale_void (
        sale TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        shift TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT,
        reason TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE return_doc (
        id TEXT PRIMARY KEY,
        receipt TEXT NOT NULL,
        register TEXT NOT NULL,
        shift TEXT NOT NULL,
        actor TEXT,
        at TEXT NOT NULL,
        original_sale TEXT,
        total INTEGER NOT NULL,
        tax INTEGER NOT NULL,
        exchange TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX return_doc_receipt ON return_doc (receipt)",
    "CREATE INDEX return_doc_shift ON return_doc (shift)",
    "CREATE INDEX return_doc_original ON return_doc (original_sale)",
    "CREATE INDEX return_doc_at ON return_doc (at)",
    """CREATE TABLE return_line (
        return_id TEXT NOT NULL,
        line INTEGER NOT NULL,
        original_sale TEXT,
        original_line INTEGER,
        variant TEXT NOT NULL,
        qty INTEGER NOT NULL,
        qty_scale INTEGER NOT NULL,
        refund INTEGER NOT NULL,
        tax INTEGER NOT NULL,
        tax_rate_ppm INTEGER,
        reason TEXT NOT NULL,
        disposition TEXT NOT NULL,
        PRIMARY KEY (return_id, line)
    ) WITHOUT ROWID""",
    "CREATE INDEX return_line_original ON return_line (original_sale, original_line)",
    # Money in (+) and out (−) of each tender kind, per shift: sales, refunds, exchanges.
    """CREATE TABLE payment (
        event TEXT NOT NULL,
        idx INTEGER NOT NULL,
        shift TEXT NOT NULL,
        kind TEXT NOT NULL,
        amount INTEGER NOT NULL,
        reference TEXT,
        tendered INTEGER,
        change INTEGER,
        PRIMARY KEY (event, idx)
    ) WITHOUT ROWID""",
    "CREATE INDEX payment_shift ON payment (shift, kind)",
    """CREATE TABLE cash_movement (
        event TEXT PRIMARY KEY,
        shift TEXT NOT NULL,
        kind TEXT NOT NULL,
        amount INTEGER NOT NULL,
        reason TEXT NOT NULL,
        note TEXT,
        at TEXT NOT NULL,
        actor TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX cash_movement_shift ON cash_movement (shift)",
    # One row per movement of one variant. qty is signed, except COUNT where it is absolute.
    """CREATE TABLE stock_ledger (
        event TEXT NOT NULL,
        line INTEGER NOT NULL,
        variant TEXT NOT NULL,
        kind TEXT NOT NULL,
        qty INTEGER NOT NULL,
        hlc_wall INTEGER NOT NULL,
        hlc_counter INTEGER NOT NULL,
        hlc_node TEXT NOT NULL,
        origin TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (event, line)
    ) WITHOUT ROWID""",
    "CREATE INDEX stock_ledger_variant ON stock_ledger (variant, hlc_wall, hlc_counter, hlc_node)",
    """CREATE TABLE stock_count (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        scope TEXT NOT NULL,
        blind INTEGER NOT NULL,
        at TEXT NOT NULL,
        actor TEXT,
        lines INTEGER NOT NULL
    ) WITHOUT ROWID""",
    # Events that broke a rule on replay (kept: they happened) wait here for a manager.
    """CREATE TABLE review_flag (
        id INTEGER PRIMARY KEY,
        event TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        resolved_by TEXT,
        resolved_ms INTEGER,
        note TEXT
    )""",
    "CREATE INDEX review_flag_event ON review_flag (event)",
    "CREATE INDEX review_flag_open ON review_flag (resolved_ms, id)",
    # Z reports are numbered per store and never change once written.
    """CREATE TABLE z_report (
        shift TEXT PRIMARY KEY,
        number INTEGER NOT NULL UNIQUE,
        event TEXT NOT NULL,
        register TEXT NOT NULL,
        closed_at TEXT NOT NULL,
        body TEXT NOT NULL
    ) WITHOUT ROWID""",
    # Offline approvals arrive as override.granted events from a register; they have no token.
    "ALTER TABLE approval ADD COLUMN offline INTEGER NOT NULL DEFAULT 0",
)

REASONS = (
    ("changed_mind", "return", "Changed mind", "restock"),
    ("wrong_size", "return", "Wrong size or fit", "restock"),
    ("not_as_described", "return", "Not as described", "restock"),
    ("defective", "return", "Defective", "damaged"),
    ("damaged_on_arrival", "return", "Damaged when bought", "rtv"),
    ("recall", "return", "Vendor recall", "rtv"),
    ("damaged", "adjust", "Damaged in store", None),
    ("theft", "adjust", "Theft or loss", None),
    ("found", "adjust", "Found stock", None),
    ("expired", "adjust", "Expired", None),
    ("correction", "adjust", "Booking correction", None),
    ("float_top_up", "cash", "Float top-up", None),
    ("change_run", "cash", "Change from the bank", None),
    ("supplies", "cash", "Store supplies", None),
    ("bank_deposit", "cash", "Bank deposit", None),
    ("petty_cash", "cash", "Petty cash", None),
    ("customer_change", "cash", "Change for a customer", None),
)


def up(db: Database, migrator: SqliteMigrator) -> None:
    """Create the selling tables and the default reason codes."""
    for statement in STATEMENTS:
        db.execute(statement)
    db.executemany(
        "INSERT INTO reason_code (code, kind, label, disposition) VALUES (?, ?, ?, ?)", REASONS
    )
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER z_report_no_{verb.lower()} BEFORE {verb} ON z_report "
            "BEGIN SELECT RAISE(ABORT, 'z_report is append-only'); END"
        )
