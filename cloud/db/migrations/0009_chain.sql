-- The chain's view across stores (decisions.md §43). Each store's variant ids are its own;
-- the SKU is the chain's key, and `store_variant` (migration 0008, from the stores' directory
-- uploads) says which SKU each id stands for. Cross-store questions look a SKU up in it.
CREATE INDEX store_variant_sku ON store_variant (upper(sku), store);
