-- Low stock and reorder (issue 7, decisions.md §58): purchase orders drafted from the reorder
-- report, one per vendor, its lines per store (where the goods go) and SKU; the HQ users who
-- get the daily low-stock digest; and one open low-stock alert per store and SKU at most.

CREATE TABLE purchase_order (
    id bigserial PRIMARY KEY,
    vendor_id bigint NOT NULL REFERENCES catalog_vendor (id),
    state text NOT NULL DEFAULT 'draft'
        CHECK (state IN ('draft', 'sent', 'received', 'cancelled')),
    note text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_by bigint REFERENCES hq_user (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    received_at timestamptz,
    cancelled_at timestamptz,
    CHECK ((state = 'sent') <= (sent_at IS NOT NULL)),
    CHECK ((state = 'received') <= (received_at IS NOT NULL AND sent_at IS NOT NULL)),
    CHECK ((state = 'cancelled') <= (cancelled_at IS NOT NULL))
);
CREATE INDEX purchase_order_open ON purchase_order (vendor_id) WHERE state IN ('draft', 'sent');

CREATE TABLE purchase_order_line (
    order_id bigint NOT NULL REFERENCES purchase_order (id) ON DELETE CASCADE,
    store text NOT NULL REFERENCES store (id),
    sku text NOT NULL,
    -- Units ordered (whole packs); 0 keeps the line on a draft without ordering it.
    qty integer NOT NULL CHECK (qty >= 0 AND qty <= 1000000),
    -- What the report suggested when the draft was made (the why, kept with the order).
    suggested integer NOT NULL CHECK (suggested >= 0),
    pack_size integer NOT NULL DEFAULT 1 CHECK (pack_size >= 1),
    unit_cost bigint CHECK (unit_cost >= 0),
    PRIMARY KEY (order_id, store, sku),
    CHECK (qty % pack_size = 0)
);
CREATE INDEX purchase_order_line_sku ON purchase_order_line (store, upper(sku));

-- Who gets `tillbox cloud digest`: an HQ user's address and, optionally, only some categories
-- (NULL: all). The stores are the user's own scope.
CREATE TABLE hq_digest (
    user_id bigint PRIMARY KEY REFERENCES hq_user (id),
    email text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    categories text[],
    last_sent_at timestamptz
);

-- cloud/low_stock.py raises at most one open low-stock alert per store and SKU.
CREATE UNIQUE INDEX alert_low_stock_open ON alert (store, upper(details ->> 'sku'))
    WHERE kind = 'low_stock' AND resolved_at IS NULL;
