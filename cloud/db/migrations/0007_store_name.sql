-- A store's display name and when its broker password was last set, written by
-- `tillbox cloud store add` (cloud/stores.py). A store that first appears through ingest has
-- neither until someone adds it.
ALTER TABLE store
    ADD COLUMN name text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 100),
    ADD COLUMN mqtt_password_set_at timestamptz;
