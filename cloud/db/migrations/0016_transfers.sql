-- Transfers between stores (cloud/transfers.py, decisions.md §55): the cloud's transfer table
-- is where HQ and the two stores meet. HQ writes requests, approvals and cancellations here
-- directly; the stores' journal events (transfer.requested|approved|shipped|received) are
-- kept as facts (transfer_event, transfer_move) whatever order they arrive in, even for a
-- transfer not known yet, and the transfer's dates and state are worked out again from them
-- (`transfers.restate`). Lines name a SKU (HQ's) or the requesting store's own variant id;
-- moves name the moving store's variant ids; both are read through store_variant (§43).
--
-- change_seq numbers every change so an appliance can pull "what changed since N" for its
-- store. As for the catalog (§39), numbers must become visible in order: writers take one
-- transaction-scoped advisory lock before taking a number (transfers.bump).
CREATE SEQUENCE transfer_change_seq;

CREATE TABLE transfer (
    id uuid PRIMARY KEY,
    from_store text NOT NULL,
    to_store text NOT NULL,
    state text NOT NULL DEFAULT 'requested'
        CHECK (state IN ('requested', 'approved', 'shipped', 'received', 'cancelled')),
    note text,
    -- Who asked: an HQ user's name (requested_in 'hq') or a store's staff id (its store).
    requested_by text,
    requested_in text NOT NULL,
    requested_at timestamptz NOT NULL,
    approved_by text,
    approved_in text,
    approved_at timestamptz,
    cancelled_by text,
    cancelled_at timestamptz,
    cancel_reason text,
    shipped_at timestamptz,
    received_at timestamptz,
    -- Why received differs from shipped, as the receiving store gave it.
    receive_reason text,
    change_seq bigint NOT NULL DEFAULT nextval('transfer_change_seq'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (from_store <> to_store)
);
CREATE INDEX transfer_change ON transfer (change_seq);
CREATE INDEX transfer_from ON transfer (from_store, change_seq);
CREATE INDEX transfer_to ON transfer (to_store, change_seq);
CREATE INDEX transfer_open ON transfer (to_store) WHERE state = 'shipped';

-- What was asked for.
CREATE TABLE transfer_line (
    transfer uuid NOT NULL REFERENCES transfer (id) ON DELETE CASCADE,
    line integer NOT NULL,
    sku text,
    store text,
    variant uuid,
    qty integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (transfer, line),
    CHECK (sku IS NOT NULL OR (store IS NOT NULL AND variant IS NOT NULL))
);

-- Every store event about a transfer, kept as it came (no foreign key to transfer: a
-- shipment may be heard of before its request).
CREATE TABLE transfer_event (
    event uuid PRIMARY KEY,
    transfer uuid NOT NULL,
    store text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('requested', 'approved', 'shipped', 'received')),
    at timestamptz NOT NULL,
    actor text,
    note text
);
CREATE INDEX transfer_event_transfer ON transfer_event (transfer, kind);

-- The lines of shipped and received events, in the moving store's variant ids.
CREATE TABLE transfer_move (
    event uuid NOT NULL,
    line integer NOT NULL,
    transfer uuid NOT NULL,
    store text NOT NULL,
    variant uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('shipped', 'received')),
    qty integer NOT NULL,
    PRIMARY KEY (event, line)
);
CREATE INDEX transfer_move_transfer ON transfer_move (transfer, kind);
