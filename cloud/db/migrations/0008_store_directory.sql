-- A store's directory as its appliance last sent it (decisions.md §42): staff with their PIN
-- hashes and roles, paired registers with their device token hashes, reason codes, the
-- settings a replacement appliance needs, and the local ids of its variants (events name
-- variants by them). None of this is events; a restore from the cloud rebuilds it.
-- `source` says who manages a staff row: 'store' (its appliance) today, 'hq' later (issue 7).

CREATE TABLE store_directory (
    store text PRIMARY KEY REFERENCES store (id),
    -- The snapshot's version as the appliance numbered it; an older one is never applied.
    version bigint NOT NULL CHECK (version >= 1),
    settings jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- Appliances of the store so far: a restore takes the next (its origin s01-ap2, …).
    generation integer NOT NULL DEFAULT 1 CHECK (generation BETWEEN 1 AND 99)
);

CREATE TABLE store_staff (
    store text NOT NULL REFERENCES store (id),
    id text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('cashier', 'supervisor', 'manager')),
    pin_hash text NOT NULL CHECK (starts_with(pin_hash, '$argon2id$')),
    active boolean NOT NULL,
    source text NOT NULL DEFAULT 'store' CHECK (source IN ('store', 'hq')),
    created_at text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (store, id)
);

CREATE TABLE store_register (
    store text NOT NULL REFERENCES store (id),
    id text COLLATE "C" NOT NULL CHECK (starts_with(id, store || '-r')),
    name text NOT NULL,
    -- SHA-256 of the device token (the appliance never keeps the token itself).
    token_hash text NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at text NOT NULL,
    paired_by text,
    revoked_at text,
    PRIMARY KEY (store, id)
);

CREATE TABLE store_reason (
    store text NOT NULL REFERENCES store (id),
    code text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('return', 'adjust', 'cash')),
    label text NOT NULL,
    disposition text CHECK (disposition IN ('restock', 'damaged', 'rtv')),
    active boolean NOT NULL,
    PRIMARY KEY (store, code)
);

-- Variant ids are made by each appliance (a UUIDv7 per SKU); its events name them.
CREATE TABLE store_variant (
    store text NOT NULL REFERENCES store (id),
    uid uuid NOT NULL,
    sku text NOT NULL,
    -- The appliance's rowid, the order it sends them in.
    local_id bigint NOT NULL,
    PRIMARY KEY (store, uid)
);
CREATE UNIQUE INDEX store_variant_local ON store_variant (store, local_id);
