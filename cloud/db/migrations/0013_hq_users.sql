-- HQ's web users (issue 7): HQ admins, buyers and store managers scoped to their stores,
-- their server-side sessions (each with its CSRF token) and the audit log of what they did.
-- Passwords are argon2id hashes; the session cookie's token is kept only as its SHA-256.

CREATE TABLE hq_user (
    id bigserial PRIMARY KEY,
    username text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,63}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role text NOT NULL CHECK (role IN ('admin', 'buyer', 'store_manager')),
    password_hash text NOT NULL CHECK (starts_with(password_hash, '$argon2id$')),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX hq_user_username ON hq_user (lower(username));

-- A store manager's stores (HQ admins and buyers see every store and have no rows here).
CREATE TABLE hq_user_store (
    user_id bigint NOT NULL REFERENCES hq_user (id),
    store text NOT NULL REFERENCES store (id),
    PRIMARY KEY (user_id, store)
);

CREATE TABLE hq_session (
    token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id bigint NOT NULL REFERENCES hq_user (id),
    csrf_token text NOT NULL,
    address text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    -- What the next page shows once, after a redirect ("User added").
    notice text
);
CREATE INDEX hq_session_user ON hq_session (user_id) WHERE ended_at IS NULL;

CREATE TABLE hq_audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    user_id bigint REFERENCES hq_user (id),
    action text NOT NULL,
    target text,
    details jsonb NOT NULL DEFAULT '{}',
    address text
);
CREATE INDEX hq_audit_at ON hq_audit (at DESC);

