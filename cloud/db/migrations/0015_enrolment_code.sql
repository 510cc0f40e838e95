-- One-time enrolment codes for new store appliances (cloud/enrolment.py, decisions.md §53):
-- `tillbox cloud store enrol-code` issues one, the appliance trades it once at POST /enrol
-- for a fresh broker password. Only a SHA-256 of the code is kept (it has 100 random bits,
-- so a fast hash is enough); issuing a new code for a store revokes its unused ones.
CREATE TABLE enrolment_code (
    id bigserial PRIMARY KEY,
    store text NOT NULL REFERENCES store (id),
    code_hash bytea NOT NULL UNIQUE,
    issued_at timestamptz NOT NULL DEFAULT now(),
    issued_by text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    used_from text,
    revoked_at timestamptz,
    CHECK (expires_at > issued_at)
);
-- At most one live (unused, unrevoked) code per store.
CREATE UNIQUE INDEX enrolment_code_live ON enrolment_code (store)
    WHERE used_at IS NULL AND revoked_at IS NULL;
