-- API keys (issue 21, SPEC §12). The secret is shown once and only its
-- SHA-256 is kept; the prefix ("tc_" and the secret's first characters)
-- is what lists show. A key acts for its account and never more than its
-- creator's current role: the console checks the creator's membership on
-- every request. The fixed-window counter of the per-key rate limit lives
-- on the key's row (one UPDATE per request, shared by every console).
CREATE TABLE api_keys (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    prefix TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    scopes TEXT[] NOT NULL,
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    last_used_ip TEXT,
    window_start TIMESTAMPTZ,
    window_count INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX api_keys_account_created ON api_keys (account_id, created_at DESC);
