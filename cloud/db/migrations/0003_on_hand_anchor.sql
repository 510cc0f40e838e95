-- on_hand keeps its anchoring count's stamp, so a batch of deltas moves on-hand by their
-- sum (those stamped after the anchor) instead of re-folding each variant's whole ledger;
-- only a count re-folds. The same bookkeeping as the appliance's stock_level.
ALTER TABLE on_hand
    ADD COLUMN anchor_wall bigint,
    ADD COLUMN anchor_counter integer,
    ADD COLUMN anchor_node text COLLATE "C",
    ADD COLUMN anchor_origin text COLLATE "C";

UPDATE on_hand o
SET anchor_wall = l.hlc_wall, anchor_counter = l.hlc_counter, anchor_node = l.hlc_node,
    anchor_origin = l.origin
FROM stock_ledger l
WHERE l.event = o.anchor_event AND l.store = o.store AND l.variant = o.variant
    AND l.kind = 'count';
