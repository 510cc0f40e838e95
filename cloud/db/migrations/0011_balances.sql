-- Chain-wide balances: gift cards and store credit accounts, spendable in any store
-- (decisions.md §46). `balance` is what the ingested events (and HQ's issues) left; a hold
-- reserves part of it for a payment a store is making online, until that payment's event
-- arrives (it consumes the hold) or the hold is released or expires. A redemption that
-- arrives with no hold was made offline: it is booked all the same (it happened) and
-- flagged for review, as is any booking that takes a balance below zero.
CREATE TABLE balance_account (
    kind text NOT NULL CHECK (kind IN ('gift_card', 'store_credit')),
    reference text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    balance bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, reference)
);

CREATE TABLE balance_hold (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    reference text NOT NULL,
    store text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0),
    state text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'used', 'released')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    event uuid,
    FOREIGN KEY (kind, reference) REFERENCES balance_account (kind, reference)
);
CREATE INDEX balance_hold_open ON balance_hold (kind, reference, store, amount, created_at)
    WHERE state = 'held';

-- Every movement of a balance, once per event (and tender) that made it.
CREATE TABLE balance_entry (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    reference text NOT NULL,
    store text,
    event uuid,
    tender integer,
    entry text NOT NULL CHECK (entry IN ('issue', 'redeem', 'refund', 'void')),
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    hold uuid,
    -- A redemption made with no hold (offline), or one that left the balance below zero.
    flagged text CHECK (flagged IN ('offline', 'overdrawn', 'offline_overdrawn', 'unknown_account')),
    at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event, tender)
);
CREATE INDEX balance_entry_account ON balance_entry (kind, reference, id);
CREATE INDEX balance_entry_flagged ON balance_entry (at) WHERE flagged IS NOT NULL;
