-- Mail waiting to be sent (or sent): written in the same transaction as
-- the change that causes it, sent by whichever console claims the row
-- first (FOR UPDATE SKIP LOCKED). Recipient and subject stay for the record.
CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    recipient text NOT NULL,
    subject text NOT NULL,
    -- The text and HTML parts, sealed (XChaCha20-Poly1305, a key derived
    -- from SECRET_KEY): they carry reset and invite links, which the
    -- database never holds in plain text. Emptied once sent.
    body bytea NOT NULL,
    created_at timestamptz NOT NULL,
    -- When the next attempt is due; retries move it forward.
    next_attempt_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    sent_at timestamptz,
    -- A permanent refusal (5xx): kept, logged, not retried.
    failed_at timestamptz
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- Password reset links: only the token's hash is kept. The fingerprint of
-- the password hash at issue refuses the link once the password changed
-- by any other means.
CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_fingerprint bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Devices a user signed in from (browser family and IP), for the notice
-- of a sign-in from a new one.
CREATE TABLE known_devices (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device text NOT NULL,
    ip text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (user_id, device, ip)
);
