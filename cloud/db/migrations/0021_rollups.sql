-- Analytics rollups (issue 7, decisions.md §59), kept by the ingest transaction that wrote
-- the facts (cloud/rollups.py: one statement per batch) and rebuilt from sale_fact and the
-- event log by cloud.rollups.rebuild (this migration's backfill calls it).
--
-- A day is the store's calendar day in its time zone, as its appliance's day report counts
-- it. The zone is the one the store's appliance sent in its directory (settings.timezone),
-- else the appliance's default, Europe/Dublin. rollup_store keeps the zone a store's rows
-- were made in: ingest keeps using it, so one store's days never mix two zones; after a store
-- changes its zone, `rebuild` moves its rows (HQ's analytics page says when one is due).

CREATE FUNCTION store_zone(p_store text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    zone text;
BEGIN
    SELECT settings ->> 'timezone' INTO zone FROM store_directory WHERE store = p_store;
    IF zone IS NULL OR zone = '' THEN
        RETURN 'Europe/Dublin';
    END IF;
    -- A name PostgreSQL's zone database does not know must not fail an ingest batch.
    PERFORM now() AT TIME ZONE zone;
    RETURN zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN 'Europe/Dublin';
END
$$;

CREATE TABLE rollup_store (
    store text PRIMARY KEY REFERENCES store (id),
    zone text NOT NULL,
    rebuilt_at timestamptz
);

-- Per store, local day and the store's variant (sale_fact.variant; store_variant maps it to
-- the chain's SKU). Units are qty / qty_scale (a weighed line is 0.250 units). sold_* are
-- sales less post-voids; returned_* are positive; tax and discount are net of all three.
-- cost is the catalog cost when the line was booked, net of returns; costed_net is the net
-- (sold less returned) of the lines whose cost was known, so margin never counts a line
-- without a cost as pure profit.
CREATE TABLE sales_day (
    store text NOT NULL REFERENCES store (id),
    day date NOT NULL,
    variant uuid NOT NULL,
    sold_units numeric NOT NULL DEFAULT 0,
    sold_net bigint NOT NULL DEFAULT 0,
    returned_units numeric NOT NULL DEFAULT 0,
    returned_net bigint NOT NULL DEFAULT 0,
    tax bigint NOT NULL DEFAULT 0,
    discount bigint NOT NULL DEFAULT 0,
    cost bigint NOT NULL DEFAULT 0,
    costed_net bigint NOT NULL DEFAULT 0,
    -- The chain's SKU for the variant (upper case) as the store had mapped it when the row
    -- was booked (NULL: not yet; readers fall back to store_variant): item views group by
    -- it without joining store_variant row by row.
    sku text,
    PRIMARY KEY (store, day, variant)
);
CREATE INDEX sales_day_day ON sales_day (day, store);

-- The same per store and day over every variant (what the trend and store views read), with
-- the number of sales (a sale with a line in it, less post-voids).
CREATE TABLE sales_store_day (
    store text NOT NULL REFERENCES store (id),
    day date NOT NULL,
    sales integer NOT NULL DEFAULT 0,
    sold_units numeric NOT NULL DEFAULT 0,
    sold_net bigint NOT NULL DEFAULT 0,
    returned_units numeric NOT NULL DEFAULT 0,
    returned_net bigint NOT NULL DEFAULT 0,
    tax bigint NOT NULL DEFAULT 0,
    discount bigint NOT NULL DEFAULT 0,
    cost bigint NOT NULL DEFAULT 0,
    costed_net bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (store, day)
);
CREATE INDEX sales_store_day_day ON sales_store_day (day);

-- Returned lines by reason code (the return.completed line's reason), units and refund net
-- of tax, both positive.
CREATE TABLE returns_day (
    store text NOT NULL REFERENCES store (id),
    day date NOT NULL,
    reason text NOT NULL,
    variant uuid NOT NULL,
    lines integer NOT NULL DEFAULT 0,
    units numeric NOT NULL DEFAULT 0,
    net bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (store, day, reason, variant)
);
CREATE INDEX returns_day_day ON returns_day (day, store);

-- Each shift's cash as the appliance's Z report works out the expected drawer: the opening
-- float (shift_summary) plus cash taken in sales, less cash refunded and cash given back by
-- post-voids, plus pay-ins, less pay-outs. Over/short is counted cash (z_summary) less that.
CREATE TABLE shift_cash (
    shift uuid PRIMARY KEY,
    store text NOT NULL REFERENCES store (id),
    register text,
    opened_by text,
    closed_by text,
    cash_sales bigint NOT NULL DEFAULT 0,
    cash_refunds bigint NOT NULL DEFAULT 0,
    cash_voided bigint NOT NULL DEFAULT 0,
    pay_ins bigint NOT NULL DEFAULT 0,
    pay_outs bigint NOT NULL DEFAULT 0
);
CREATE INDEX shift_cash_store ON shift_cash (store);
-- Cash over/short reads closed shifts by when they closed.
CREATE INDEX z_summary_closed_at ON z_summary (closed_at);

-- The cash in an event's tenders (a sale's taken, a return's refunded).
CREATE FUNCTION envelope_cash(envelope jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(sum((t ->> 'amount')::bigint), 0)
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(envelope #> '{body,tenders}') = 'array'
            THEN envelope #> '{body,tenders}' ELSE '[]' END) AS t
    WHERE t ->> 'kind' = 'cash'
$$;

-- The rollups of one store (NULL: every store) recomputed from sale_fact and the event log,
-- in each store's zone as it is now. cloud/rollups.py adds batch by batch what this sums at
-- once; tests hold the two equal. Cost is the catalog's now (ingest used the cost then).
CREATE FUNCTION rollup_rebuild(p_store text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sales_day WHERE p_store IS NULL OR store = p_store;
    DELETE FROM sales_store_day WHERE p_store IS NULL OR store = p_store;
    DELETE FROM returns_day WHERE p_store IS NULL OR store = p_store;
    DELETE FROM shift_cash WHERE p_store IS NULL OR store = p_store;
    INSERT INTO rollup_store (store, zone, rebuilt_at)
    SELECT id, store_zone(id), now() FROM store WHERE p_store IS NULL OR id = p_store
    ON CONFLICT (store) DO UPDATE SET zone = excluded.zone, rebuilt_at = excluded.rebuilt_at;

    CREATE TEMP TABLE rollup_facts ON COMMIT DROP AS
    SELECT f.event, f.kind, f.store, (f.at AT TIME ZONE r.zone)::date AS day, f.variant, f.qty,
        f.qty_scale AS scale, f.net, f.tax, f.discount, cv.cost, upper(sv.sku) AS sku
    FROM sale_fact f
    JOIN rollup_store r ON r.store = f.store
    LEFT JOIN store_variant sv ON sv.store = f.store AND sv.uid = f.variant
    LEFT JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)
    WHERE p_store IS NULL OR f.store = p_store;

    INSERT INTO sales_day (store, day, variant, sku, sold_units, sold_net, returned_units,
        returned_net, tax, discount, cost, costed_net)
    SELECT f.store, f.day, f.variant, max(f.sku),
        sum(CASE WHEN f.kind <> 'return' THEN f.qty::numeric / f.scale ELSE 0 END),
        sum(CASE WHEN f.kind <> 'return' THEN f.net ELSE 0 END),
        sum(CASE WHEN f.kind = 'return' THEN -f.qty::numeric / f.scale ELSE 0 END),
        sum(CASE WHEN f.kind = 'return' THEN -f.net ELSE 0 END),
        sum(f.tax), sum(f.discount),
        sum(COALESCE(round(f.cost * f.qty::numeric / f.scale), 0)),
        sum(CASE WHEN f.cost IS NULL THEN 0 ELSE f.net END)
    FROM rollup_facts f GROUP BY f.store, f.day, f.variant;

    INSERT INTO sales_store_day (store, day, sales, sold_units, sold_net, returned_units,
        returned_net, tax, discount, cost, costed_net)
    SELECT f.store, f.day,
        count(DISTINCT f.event) FILTER (WHERE f.kind = 'sale')
            - count(DISTINCT f.event) FILTER (WHERE f.kind = 'void'),
        sum(CASE WHEN f.kind <> 'return' THEN f.qty::numeric / f.scale ELSE 0 END),
        sum(CASE WHEN f.kind <> 'return' THEN f.net ELSE 0 END),
        sum(CASE WHEN f.kind = 'return' THEN -f.qty::numeric / f.scale ELSE 0 END),
        sum(CASE WHEN f.kind = 'return' THEN -f.net ELSE 0 END),
        sum(f.tax), sum(f.discount),
        sum(COALESCE(round(f.cost * f.qty::numeric / f.scale), 0)),
        sum(CASE WHEN f.cost IS NULL THEN 0 ELSE f.net END)
    FROM rollup_facts f GROUP BY f.store, f.day;

    -- A return's fact line n is its body's line n (cloud/ingest.py numbers them so).
    INSERT INTO returns_day (store, day, reason, variant, lines, units, net)
    SELECT f.store, f.day, e.envelope #>> ARRAY['body', 'lines', (f.line - 1)::text, 'reason'],
        f.variant, count(*), sum(-f.qty::numeric / f.qty_scale), sum(-f.net)
    FROM (SELECT s.event, s.line, s.store, s.variant, s.qty, s.qty_scale, s.net,
            (s.at AT TIME ZONE r.zone)::date AS day
          FROM sale_fact s JOIN rollup_store r ON r.store = s.store
          WHERE s.kind = 'return' AND (p_store IS NULL OR s.store = p_store)) AS f
    JOIN event e ON e.id = f.event
    GROUP BY 1, 2, 3, 4;

    INSERT INTO shift_cash (shift, store, register, opened_by, closed_by, cash_sales,
        cash_refunds, cash_voided, pay_ins, pay_outs)
    SELECT t.shift::uuid, t.store, max(t.register), max(t.opened_by), max(t.closed_by),
        sum(t.cash_sales), sum(t.cash_refunds), sum(t.cash_voided), sum(t.pay_ins),
        sum(t.pay_outs)
    FROM (
        SELECT e.store, e.envelope #>> '{body,shift}' AS shift, e.origin AS register,
            CASE WHEN e.type = 'shift.opened' THEN e.actor END AS opened_by,
            CASE WHEN e.type = 'shift.closed' THEN e.actor END AS closed_by,
            e.type IN ('shift.opened', 'shift.closed') AS marks,
            CASE WHEN e.type = 'sale.completed' THEN envelope_cash(e.envelope) ELSE 0 END
                AS cash_sales,
            CASE WHEN e.type = 'return.completed' THEN envelope_cash(e.envelope) ELSE 0 END
                AS cash_refunds,
            0::bigint AS cash_voided,
            CASE WHEN e.type = 'cash.moved' AND e.envelope #>> '{body,kind}' = 'pay_in'
                THEN (e.envelope #>> '{body,amount}')::bigint ELSE 0 END AS pay_ins,
            CASE WHEN e.type = 'cash.moved' AND e.envelope #>> '{body,kind}' = 'pay_out'
                THEN (e.envelope #>> '{body,amount}')::bigint ELSE 0 END AS pay_outs
        FROM event e
        WHERE e.type IN ('sale.completed', 'return.completed', 'cash.moved', 'shift.opened',
                'shift.closed')
            AND (p_store IS NULL OR e.store = p_store)
        UNION ALL
        SELECT s.store, s.envelope #>> '{body,shift}', s.origin, NULL, NULL, false, 0, 0,
            envelope_cash(s.envelope), 0, 0
        FROM event v JOIN event s ON s.id = (v.envelope #>> '{body,sale}')::uuid
            AND s.store = v.store
        WHERE v.type = 'sale.voided' AND (p_store IS NULL OR v.store = p_store)
    ) AS t
    WHERE t.shift IS NOT NULL
    GROUP BY t.shift, t.store
    -- As ingest: a shift's row once it was opened or closed, or moved cash (a card sale
    -- alone touches no drawer). Every amount is positive, so a sum is 0 only when all are.
    HAVING bool_or(t.marks)
        OR sum(t.cash_sales) <> 0 OR sum(t.cash_refunds) <> 0 OR sum(t.cash_voided) <> 0
        OR sum(t.pay_ins) <> 0 OR sum(t.pay_outs) <> 0;

    DROP TABLE rollup_facts;
END
$$;

SELECT rollup_rebuild(NULL);
