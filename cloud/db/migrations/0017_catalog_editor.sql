-- HQ's catalog editor (cloud/catalog_edit.py, decisions.md §56).
--
-- Search: the list page matches a SKU or a product name anywhere in it (ILIKE '%…%'); a
-- trigram index answers that without reading every variant. pg_trgm is a trusted extension,
-- so the database's owner (who runs the migrations) may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX catalog_variant_sku_trgm ON catalog_variant USING gin (sku gin_trgm_ops);
CREATE INDEX catalog_product_name_trgm ON catalog_product USING gin (name gin_trgm_ops);
-- The list's order (product name, then SKU) and its "active only" filter.
CREATE INDEX catalog_variant_product_sku ON catalog_variant (product_id, sku);

-- A catalog CSV checked by a dry run and kept until it is applied, so what is applied is
-- exactly the file whose report the buyer read (not a second upload). Old ones are cleared
-- by the next upload after a day.
CREATE TABLE hq_catalog_upload (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES hq_user (id),
    filename text NOT NULL,
    data bytea NOT NULL,
    skip_bad_rows boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz
);

-- The catalog version each store's appliance says it has applied (its status message's
-- catalog_version, added beside the older fields; an appliance that does not send it leaves
-- it NULL). Kept when the Last Will (which has no version) replaces the raw message.
ALTER TABLE appliance_status ADD COLUMN catalog_version bigint;
ALTER TABLE appliance_status ADD COLUMN catalog_applied_at timestamptz;
