-- The chain's staff master (issue 7, decisions.md §57). A person (their staff id, the one
-- they sign in with at a till, and their name) works at one or more stores, each with a role,
-- a PIN (argon2id hash only; PINs are unique per store, so a PIN belongs to a store
-- assignment) and whether they may work there. Every change to an assignment, or to its
-- person, takes the next chain-wide change_seq; a store pulls its own assignments changed
-- since what it applied (protocol/staff.py), as it pulls the catalog.
--
-- Either side may edit: HQ on its Staff page, a store manager on the appliance (those edits
-- come up in the directory upload). Each field remembers the change that last set it
-- (*_seq): a store's edit made after it had applied that change wins, an edit made before
-- loses to HQ's, except a deactivation, which wins from either side.
--
-- Writers take turns (cloud/staff.py takes an advisory lock in each writing transaction), so
-- numbers commit in order and a store continuing from a page's `next` misses nothing.

CREATE SEQUENCE staff_change_seq;
-- HQ's own staff ids: hq-1, hq-2, … (an appliance's are s01-staff-1, …).
CREATE SEQUENCE staff_hq_number;

CREATE TABLE staff_person (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    -- false: left the chain; they may sign in nowhere.
    active boolean NOT NULL DEFAULT true,
    -- 'hq', or the store whose appliance added them.
    added_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff_assignment (
    person text NOT NULL REFERENCES staff_person (id),
    store text NOT NULL REFERENCES store (id),
    role text NOT NULL CHECK (role IN ('cashier', 'supervisor', 'manager')),
    -- false: may no longer sign in at this store (removed there, or deactivated by it).
    active boolean NOT NULL DEFAULT true,
    pin_hash text NOT NULL CHECK (starts_with(pin_hash, '$argon2id$')),
    change_seq bigint NOT NULL,
    -- The change that last set each field the store may also edit.
    name_seq bigint NOT NULL,
    role_seq bigint NOT NULL,
    active_seq bigint NOT NULL,
    pin_seq bigint NOT NULL,
    -- What the store last reported: the last change it had applied, its PIN lockouts.
    store_seen_seq bigint,
    locked_until timestamptz,
    lockouts integer NOT NULL DEFAULT 0,
    reported_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person, store)
);
CREATE UNIQUE INDEX staff_assignment_seq ON staff_assignment (change_seq);
CREATE INDEX staff_assignment_store_seq ON staff_assignment (store, change_seq);

-- The staff responder publishes the new head when told (LISTEN tillbox_staff).
CREATE FUNCTION staff_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tillbox_staff', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER staff_assignment_notify AFTER INSERT OR UPDATE OF change_seq ON staff_assignment
    FOR EACH STATEMENT EXECUTE FUNCTION staff_notify();

-- The staff the stores have already uploaded become the master's first rows.
INSERT INTO staff_person (id, name, added_by)
SELECT DISTINCT ON (id) id, left(name, 80), store FROM store_staff ORDER BY id, store;
INSERT INTO staff_assignment (person, store, role, active, pin_hash, change_seq, name_seq,
    role_seq, active_seq, pin_seq)
SELECT id, store, role, active, pin_hash, n, n, n, n, n
FROM (SELECT s.*, nextval('staff_change_seq') AS n FROM store_staff s ORDER BY store, id) AS t;
