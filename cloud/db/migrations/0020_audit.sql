-- Audit (issue 7, decisions.md §60): the chain's override log, derived on ingest from
-- override.granted events and from overrides that other events carry in their envelope;
-- who resolved an alert and why.
--
-- override_fact's first columns are read by the staff and analytics pages: keep them.
-- One row per approval: an override.granted event is the approval's own record; an event
-- that names an approval in its envelope (`override`) and whose override.granted the cloud
-- does not hold makes a row of its own (event = that event, what the envelope says), which
-- the override.granted replaces when it arrives. `used_by` is the event that used it.

CREATE TABLE override_fact (
    event uuid PRIMARY KEY REFERENCES event (id),
    store text NOT NULL REFERENCES store (id),
    at timestamptz NOT NULL,
    action text NOT NULL,
    requester text,
    approver text NOT NULL,
    register text,
    amount bigint,
    currency text,
    reason text,
    offline boolean NOT NULL DEFAULT false,
    approval text NOT NULL UNIQUE,
    source text NOT NULL DEFAULT 'granted' CHECK (source IN ('granted', 'envelope')),
    used_by uuid REFERENCES event (id)
);
CREATE INDEX override_fact_store_at ON override_fact (store, at DESC);
CREATE INDEX override_fact_at ON override_fact (at DESC);
CREATE INDEX override_fact_requester ON override_fact (requester, at DESC);
CREATE INDEX override_fact_approver ON override_fact (approver, at DESC);

INSERT INTO override_fact (event, store, at, action, requester, approver, register, amount,
    currency, reason, offline, approval, source)
SELECT e.id, e.store, e.at, b ->> 'action', b ->> 'requester', b ->> 'approver',
    COALESCE(b ->> 'register', e.origin), (b ->> 'amount')::bigint, b ->> 'currency',
    b ->> 'reason', COALESCE((b ->> 'offline')::boolean, false), b ->> 'approval', 'granted'
FROM event e, LATERAL (SELECT e.envelope -> 'body' AS b) AS body
WHERE e.type = 'override.granted'
ORDER BY e.store, e.store_seq
ON CONFLICT DO NOTHING;

UPDATE override_fact f SET used_by = e.id
FROM event e
WHERE jsonb_typeof(e.envelope -> 'override') = 'object'
    AND e.envelope #>> '{override,id}' = f.approval;

INSERT INTO override_fact (event, store, at, action, requester, approver, register, offline,
    approval, source, used_by)
SELECT DISTINCT ON (e.envelope #>> '{override,id}') e.id, e.store, e.at,
    e.envelope #>> '{override,action}', e.actor, e.envelope #>> '{override,approver}', e.origin,
    COALESCE((e.envelope #>> '{override,offline}')::boolean, false),
    e.envelope #>> '{override,id}', 'envelope', e.id
FROM event e
WHERE jsonb_typeof(e.envelope -> 'override') = 'object'
ORDER BY e.envelope #>> '{override,id}', e.store, e.store_seq
ON CONFLICT DO NOTHING;

-- The audit trail and the variance reports read the ledger by kind and time.
CREATE INDEX stock_ledger_kind_at ON stock_ledger (kind, at DESC)
    WHERE kind IN ('adjust', 'receipt', 'count');
CREATE INDEX dead_letter_received ON dead_letter (received_at DESC);
CREATE INDEX alert_raised ON alert (raised_at DESC);

ALTER TABLE alert ADD COLUMN IF NOT EXISTS resolved_by text;
ALTER TABLE alert ADD COLUMN IF NOT EXISTS resolution_note text;
