-- Reorder terms the catalog CSV has no columns for (cloud/reorder.py, docs/hq.md "How reorder
-- suggestions are computed"): a vendor's lead time and how often it is ordered from, and a
-- variant's minimum order quantity. NULL terms fall back to the engine's defaults (7 and 7
-- days); a minimum of 0 means none beyond the pack size. Set by `reorder.set_vendor_terms`
-- and `reorder.set_min_order`; the change_seq trigger numbers the writes as any other.
ALTER TABLE catalog_vendor
    ADD COLUMN lead_time_days integer CHECK (lead_time_days BETWEEN 0 AND 365),
    ADD COLUMN review_days integer CHECK (review_days BETWEEN 1 AND 91);
ALTER TABLE catalog_variant
    ADD COLUMN min_order_qty integer NOT NULL DEFAULT 0 CHECK (min_order_qty >= 0);
-- Transfers still on the road (reorder.load_items): shipped events and their receipts by
-- transfer id, without reading every event.
CREATE INDEX event_transfer ON event ((envelope #>> '{body,transfer}'), type)
    WHERE type IN ('transfer.shipped', 'transfer.received');
