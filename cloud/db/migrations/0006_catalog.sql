-- The catalog master (ARCHITECTURE.md, "Catalog and simple fields"): tax classes,
-- categories, vendors, products, variants with their barcodes, and per-store prices.
--
-- Every insert or update of a row takes the next number of one global sequence into the
-- row's change_seq (a trigger does it, whoever writes), so "what changed since N" is an
-- index range scan per table. Nothing is deleted: a row leaves the catalog as a tombstone
-- (active = false), which stores apply like any other change.
--
-- Numbers must become visible in order, or a store that read up to 12 while 11 was still
-- uncommitted would never see 11. So the trigger takes one transaction-scoped advisory lock:
-- catalog writes take turns (they are rare: imports and price changes), each takes its
-- numbers only while no other writer can commit, and everything up to the highest committed
-- number is committed. The same trigger tells listeners (the catalog responder) to publish
-- the new head, once per transaction however many rows it wrote.

CREATE SEQUENCE catalog_change_seq;

CREATE FUNCTION catalog_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7411006);
    NEW.change_seq := nextval('catalog_change_seq');
    NEW.updated_at := now();
    PERFORM pg_notify('tillbox_catalog', '');
    RETURN NEW;
END
$$;

-- The GS1 mod-10 check digit (GTIN-8, -12, -13 and -14 alike), as protocol and the appliance
-- compute it, so no wrong GTIN reaches a store even if written by hand.
CREATE FUNCTION gs1_check_ok(code text) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT code ~ '^([0-9]{8}|[0-9]{12,14})$' AND right(code, 1)::int = (
        10 - (
            SELECT sum(substr(reverse(left(code, -1)), i, 1)::int * CASE WHEN i % 2 = 1 THEN 3 ELSE 1 END)
            FROM generate_series(1, length(code) - 1) AS i
        ) % 10
    ) % 10
$$;

CREATE TABLE catalog_tax_class (
    code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    -- The first active class is the default of a row that names none.
    position integer NOT NULL,
    active boolean NOT NULL DEFAULT true,
    change_seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog_category (
    id bigserial PRIMARY KEY,
    name text NOT NULL CHECK (name <> ''),
    active boolean NOT NULL DEFAULT true,
    change_seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX catalog_category_name ON catalog_category (lower(name));

CREATE TABLE catalog_vendor (
    id bigserial PRIMARY KEY,
    name text NOT NULL CHECK (name <> ''),
    active boolean NOT NULL DEFAULT true,
    change_seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX catalog_vendor_name ON catalog_vendor (lower(name));

CREATE TABLE catalog_product (
    id bigserial PRIMARY KEY,
    -- A product is known by its name, as in the catalog CSV.
    name text NOT NULL UNIQUE CHECK (name <> ''),
    category_id bigint REFERENCES catalog_category (id),
    vendor_id bigint REFERENCES catalog_vendor (id),
    active boolean NOT NULL DEFAULT true,
    change_seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog_variant (
    id bigserial PRIMARY KEY,
    sku text NOT NULL CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._/+-]{0,63}$'),
    product_id bigint NOT NULL REFERENCES catalog_product (id),
    -- [[name, value], …]: option order is kept (a jsonb object would sort the names).
    options jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(options) = 'array'),
    -- Minor units of the chain's currency.
    cost bigint CHECK (cost >= 0),
    price bigint NOT NULL CHECK (price >= 0),
    tax_class text NOT NULL REFERENCES catalog_tax_class (code),
    reorder_point integer CHECK (reorder_point >= 0),
    reorder_qty integer CHECK (reorder_qty >= 0),
    pack_size integer NOT NULL DEFAULT 1 CHECK (pack_size >= 1),
    active boolean NOT NULL DEFAULT true,
    change_seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX catalog_variant_sku ON catalog_variant (upper(sku));
CREATE INDEX catalog_variant_product ON catalog_variant (product_id);

-- A variant's barcodes. `code` is the lookup key (a GTIN as 14 digits, an internal code in
-- upper case), unique across the catalog; changing a variant's barcodes updates the variant
-- row too (the write API does), so the change reaches the stores.
CREATE TABLE catalog_barcode (
    code text PRIMARY KEY,
    display text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('gtin', 'internal')),
    variant_id bigint NOT NULL REFERENCES catalog_variant (id),
    position integer NOT NULL,
    CHECK (kind <> 'gtin' OR (gs1_check_ok(display) AND code = lpad(display, 14, '0')))
);
CREATE INDEX catalog_barcode_variant ON catalog_barcode (variant_id);

-- A store's own price for a variant; active = false takes it back to the chain's price.
CREATE TABLE catalog_store_price (
    store text NOT NULL CHECK (store ~ '^[a-z][a-z0-9]{1,15}$'),
    variant_id bigint NOT NULL REFERENCES catalog_variant (id),
    price bigint NOT NULL CHECK (price >= 0),
    active boolean NOT NULL DEFAULT true,
    change_seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, variant_id)
);

CREATE INDEX catalog_tax_class_seq ON catalog_tax_class (change_seq);
CREATE INDEX catalog_category_seq ON catalog_category (change_seq);
CREATE INDEX catalog_vendor_seq ON catalog_vendor (change_seq);
CREATE INDEX catalog_product_seq ON catalog_product (change_seq);
CREATE INDEX catalog_variant_seq ON catalog_variant (change_seq);
CREATE INDEX catalog_store_price_seq ON catalog_store_price (store, change_seq);
-- head_version's max over every store's prices.
CREATE INDEX catalog_store_price_all_seq ON catalog_store_price (change_seq);

CREATE TRIGGER catalog_tax_class_bump BEFORE INSERT OR UPDATE ON catalog_tax_class
    FOR EACH ROW EXECUTE FUNCTION catalog_bump();
CREATE TRIGGER catalog_category_bump BEFORE INSERT OR UPDATE ON catalog_category
    FOR EACH ROW EXECUTE FUNCTION catalog_bump();
CREATE TRIGGER catalog_vendor_bump BEFORE INSERT OR UPDATE ON catalog_vendor
    FOR EACH ROW EXECUTE FUNCTION catalog_bump();
CREATE TRIGGER catalog_product_bump BEFORE INSERT OR UPDATE ON catalog_product
    FOR EACH ROW EXECUTE FUNCTION catalog_bump();
CREATE TRIGGER catalog_variant_bump BEFORE INSERT OR UPDATE ON catalog_variant
    FOR EACH ROW EXECUTE FUNCTION catalog_bump();
CREATE TRIGGER catalog_store_price_bump BEFORE INSERT OR UPDATE ON catalog_store_price
    FOR EACH ROW EXECUTE FUNCTION catalog_bump();

-- Stores see a variant with its product's name, category and vendor: when those move, each
-- of the product's variants is changed too, so the stores hear of it in order.
CREATE FUNCTION catalog_product_touches_variants() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_variant SET updated_at = now() WHERE product_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalog_product_variants AFTER UPDATE ON catalog_product
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.category_id IS DISTINCT FROM NEW.category_id
          OR OLD.vendor_id IS DISTINCT FROM NEW.vendor_id)
    EXECUTE FUNCTION catalog_product_touches_variants();

CREATE FUNCTION catalog_named_touches_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'catalog_category' THEN
        UPDATE catalog_variant v SET updated_at = now() FROM catalog_product p
            WHERE p.id = v.product_id AND p.category_id = NEW.id;
    ELSE
        UPDATE catalog_variant v SET updated_at = now() FROM catalog_product p
            WHERE p.id = v.product_id AND p.vendor_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalog_category_variants AFTER UPDATE ON catalog_category
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION catalog_named_touches_products();
CREATE TRIGGER catalog_vendor_variants AFTER UPDATE ON catalog_vendor
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION catalog_named_touches_products();

INSERT INTO catalog_tax_class (code, position) VALUES ('standard', 1), ('reduced', 2), ('zero', 3);
