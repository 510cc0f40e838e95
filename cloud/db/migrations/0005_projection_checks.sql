-- Sales facts and the stock ledger drop their foreign keys to event and store (issue 5,
-- performance). Both are written only by cloud.ingest, in the transaction that inserts their
-- event, from that event's own fields, so the per-row checks could never fail; they took
-- about 40% of PostgreSQL's time per batch (bench/cloud_ingest_bench.py: two index probes
-- for every fact and ledger row). tests/cloud/test_projections.py holds every fact and
-- ledger row to an event of its store. The event table keeps its own keys.
ALTER TABLE sale_fact
    DROP CONSTRAINT sale_fact_event_fkey,
    DROP CONSTRAINT sale_fact_store_fkey;
ALTER TABLE stock_ledger
    DROP CONSTRAINT stock_ledger_event_fkey,
    DROP CONSTRAINT stock_ledger_store_fkey;

-- Each batch moves on-hand for most variants it touches: with room left in each page, the new
-- row version goes beside the old (a HOT update, qty and as_of being in no index), so the
-- primary key does not grow with every batch until a vacuum comes by.
ALTER TABLE on_hand SET (fillfactor = 50);
