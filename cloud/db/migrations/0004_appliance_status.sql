-- Each store appliance's last status message (its retained status topic and Last Will):
-- online or not, version, outbox depth, oldest unsynced age, printer state. The HQ fleet
-- view reads it; ingest workers write it as the messages arrive.
CREATE TABLE appliance_status (
    store text PRIMARY KEY,
    online boolean NOT NULL,
    version text,
    outbox_depth integer,
    oldest_unsynced_age_s bigint,
    printer jsonb,
    raw jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- When it last said it was online (its heartbeat), kept when the Will says offline.
    last_online_at timestamptz
);
