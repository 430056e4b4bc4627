-- People, the accounts they work in, and who belongs where.
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE accounts (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('personal', 'team')),
    name       TEXT NOT NULL,
    -- The user whose personal account this is (kept after conversion to a team).
    owner_id   UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX accounts_owner_id_idx ON accounts (owner_id);

CREATE TABLE memberships (
    account_id UUID NOT NULL REFERENCES accounts (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('basic', 'billing', 'dev', 'admin')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

-- Server-side sessions: only a hash of the cookie's key is stored.
CREATE TABLE sessions (
    key_hash            BYTEA PRIMARY KEY,
    user_id             UUID REFERENCES users (id),
    state               JSONB NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at          TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Failed sign-ins per throttle key ('email:<lowercased>' or 'ip:<address>').
CREATE TABLE sign_in_throttles (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);

-- The audit log. Append-only: the database itself refuses changes.
CREATE TABLE audit_entries (
    id            BIGINT GENERATED ALWAYS AS IDENTITY,
    occurred_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    account_id    UUID,
    actor_id      UUID,
    actor_email   TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    ip            TEXT,
    user_agent    TEXT,
    details       JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- occurred_at is part of the key so the table can later be partitioned by month.
    PRIMARY KEY (id, occurred_at)
);
CREATE INDEX audit_entries_account_idx ON audit_entries (account_id, occurred_at DESC, id DESC);

CREATE FUNCTION audit_entries_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_entries_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_change();
CREATE TRIGGER audit_entries_no_truncate
    BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_refuse_change();
