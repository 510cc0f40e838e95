-- The ingest core: stores and their origins, the event log with one cursor per store,
-- dead letters and alerts, and the first projections (sales facts, the stock ledger and
-- on-hand per store and variant, shift summaries).
-- Node and origin ids compare in C collation: the stock fold orders them by code point,
-- as protocol.stock does, never by a locale's rules.

CREATE TABLE store (
    id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9]{1,15}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE origin (
    id text COLLATE "C" PRIMARY KEY,
    store text NOT NULL REFERENCES store (id),
    -- Where the origin's hash chain stands in the cloud.
    last_seq bigint NOT NULL DEFAULT 0,
    last_hash text,
    registered_at timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_with(id, store || '-'))
);

CREATE TABLE store_cursor (
    store text PRIMARY KEY REFERENCES store (id),
    applied_through bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event (
    id uuid PRIMARY KEY,
    store text NOT NULL REFERENCES store (id),
    origin text COLLATE "C" NOT NULL REFERENCES origin (id),
    seq bigint NOT NULL,
    store_seq bigint NOT NULL,
    type text NOT NULL,
    hlc text NOT NULL,
    at timestamptz NOT NULL,
    actor text,
    envelope jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store, store_seq),
    UNIQUE (origin, seq)
);

CREATE TABLE dead_letter (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    store text,
    raw bytea NOT NULL,
    reason text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    store text,
    details jsonb NOT NULL DEFAULT '{}',
    raised_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX alert_open ON alert (store, kind) WHERE resolved_at IS NULL;

-- Reason codes for returns: whether the goods go back on the shelf. Seeded with the
-- appliance's defaults (appliance/db/migrations/0002_selling.py), chain-wide for now.
CREATE TABLE return_reason (
    code text PRIMARY KEY,
    disposition text NOT NULL CHECK (disposition IN ('restock', 'damaged', 'rtv'))
);
INSERT INTO return_reason (code, disposition) VALUES
    ('changed_mind', 'restock'),
    ('wrong_size', 'restock'),
    ('not_as_described', 'restock'),
    ('defective', 'damaged'),
    ('damaged_on_arrival', 'rtv'),
    ('recall', 'rtv');

-- One row per sale line (kind 'sale'), returned line ('return', negative qty) or post-voided
-- line ('void', negative qty). net excludes tax; discount is the line's share of all discounts.
CREATE TABLE sale_fact (
    event uuid NOT NULL REFERENCES event (id),
    line integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('sale', 'return', 'void')),
    store text NOT NULL REFERENCES store (id),
    register text NOT NULL,
    receipt text NOT NULL,
    at timestamptz NOT NULL,
    variant uuid NOT NULL,
    qty bigint NOT NULL,
    qty_scale integer NOT NULL DEFAULT 1,
    net bigint NOT NULL,
    tax bigint NOT NULL,
    discount bigint NOT NULL,
    currency text,
    PRIMARY KEY (event, line)
);
CREATE INDEX sale_fact_store_at ON sale_fact (store, at);
CREATE INDEX sale_fact_variant ON sale_fact (variant, at);

CREATE TABLE stock_ledger (
    event uuid NOT NULL REFERENCES event (id),
    line integer NOT NULL,
    store text NOT NULL REFERENCES store (id),
    variant uuid NOT NULL,
    kind text COLLATE "C" NOT NULL
        CHECK (kind IN ('sale', 'return', 'receipt', 'adjust', 'transfer_out', 'transfer_in',
                        'count', 'void')),
    qty bigint NOT NULL,
    hlc_wall bigint NOT NULL,
    hlc_counter integer NOT NULL,
    hlc_node text COLLATE "C" NOT NULL,
    origin text COLLATE "C" NOT NULL,
    at timestamptz NOT NULL,
    reason text,
    PRIMARY KEY (event, line)
);
CREATE INDEX stock_ledger_fold ON stock_ledger (store, variant, hlc_wall, hlc_counter, hlc_node, origin);
CREATE INDEX stock_ledger_counts ON stock_ledger (store, variant, hlc_wall DESC) WHERE kind = 'count';

-- The fold's result per store and variant, kept by the ingest transaction that booked the
-- movement; anchor_* name the anchoring count (NULL: no count yet, the fold starts at 0).
CREATE TABLE on_hand (
    store text NOT NULL REFERENCES store (id),
    variant uuid NOT NULL,
    qty bigint NOT NULL,
    anchor_event uuid,
    as_of timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, variant)
);

CREATE TABLE shift_summary (
    store text NOT NULL REFERENCES store (id),
    shift uuid PRIMARY KEY,
    register text NOT NULL,
    opened_at timestamptz,
    closed_at timestamptz,
    opening_float bigint,
    counted_cash bigint,
    sales integer NOT NULL DEFAULT 0,
    sales_total bigint NOT NULL DEFAULT 0,
    returns integer NOT NULL DEFAULT 0,
    refunds_total bigint NOT NULL DEFAULT 0
);
