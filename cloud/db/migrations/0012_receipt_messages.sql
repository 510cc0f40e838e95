-- Digital receipts the cloud sends (decisions.md §48): each `receipt.requested` for email or
-- SMS that its appliance queued for the cloud (the batch's `cloud_sends`), written by ingest
-- in the batch's transaction, and sent by `tillbox cloud receipts` workers. A worker claims a
-- row with FOR UPDATE SKIP LOCKED and holds that lock while it sends, so two workers never
-- send one message at once, and a worker that dies mid-send leaves it queued for the next.
CREATE TABLE receipt_message (
    event uuid PRIMARY KEY REFERENCES event (id),
    store text NOT NULL REFERENCES store (id),
    channel text NOT NULL CHECK (channel IN ('email', 'sms')),
    -- As the appliance normalised it (an email trimmed, a phone number as digits and +).
    address text NOT NULL,
    receipt text NOT NULL,
    gift boolean NOT NULL DEFAULT false,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    -- When the cloud queued it: the two days of retries count from here, as on the appliance.
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX receipt_message_due ON receipt_message (next_attempt_at) WHERE state = 'queued';
CREATE INDEX receipt_message_store ON receipt_message (store, created_at);
