-- Invite links. The link's token is never stored: it is an HMAC (keyed by
-- the console's secret) of the invite id and `nonce`, so it can be shown
-- again, and `token_hash` (its SHA-256) finds the invite when the link is
-- opened. Regenerating draws a new nonce, which kills the old link.
CREATE TABLE invites (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts (id),
    role        TEXT NOT NULL CHECK (role IN ('basic', 'billing', 'dev', 'admin')),
    email       TEXT,
    nonce       BYTEA NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_by  UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    accepted_at TIMESTAMPTZ,
    accepted_by UUID REFERENCES users (id)
);
CREATE INDEX invites_pending_idx ON invites (account_id, created_at DESC)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
