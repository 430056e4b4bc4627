-- Streaming audit entries to collectors (issue 17, item 5; SPEC §11).
-- The audit table is the outbox: each destination keeps a cursor, the id
-- of the last entry of its account delivered (ids grow in the order an
-- account's entries are written, docs/audit-integrity.md), and whichever
-- console holds the destination's advisory lock delivers the next one.
-- The shared secret is sealed (XChaCha20-Poly1305, key derived from
-- SECRET_KEY, bound to the destination's id), never stored in plain text.
CREATE TABLE audit_stream_destinations (
    id UUID PRIMARY KEY,
    account_id UUID NOT NULL REFERENCES accounts (id),
    url TEXT NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
    secret_sealed BYTEA NOT NULL,
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    -- Entries of the account with an id above this one are still to go.
    cursor BIGINT NOT NULL,
    last_delivered_at TIMESTAMPTZ,
    last_error TEXT,
    last_error_at TIMESTAMPTZ,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_stream_destinations_account ON audit_stream_destinations (account_id, created_at);
CREATE INDEX audit_stream_destinations_due ON audit_stream_destinations (next_attempt_at);
