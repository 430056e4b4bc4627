-- Two-factor sign-in (an authenticator app's codes, RFC 6238). The secret
-- is sealed with a key derived from the console's SECRET_KEY (XChaCha20-
-- Poly1305, the user's id as associated data), never stored in clear.
-- `totp_last_step` is the time step of the last code accepted: a code is
-- accepted once, and no older one after it.
ALTER TABLE users ADD COLUMN totp_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
ALTER TABLE users ADD CONSTRAINT users_totp_whole
    CHECK ((totp_secret IS NULL) = (totp_enabled_at IS NULL));

-- Single-use recovery codes, stored as a keyed hash (HMAC-SHA256 with a key
-- derived from SECRET_KEY): a copy of the table does not reveal them.
CREATE TABLE recovery_codes (
    user_id    UUID NOT NULL REFERENCES users (id),
    code_hash  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- A team can require two-factor sign-in of its members.
ALTER TABLE accounts ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT false;

-- Last activity of a member in a team, for the Admins' access review
-- (rolled forward at most every few minutes). Members who joined before
-- this have none until they next use the team.
ALTER TABLE memberships ADD COLUMN last_active_at TIMESTAMPTZ;
ALTER TABLE memberships ALTER COLUMN last_active_at SET DEFAULT now();

-- Sessions as their owner sees them on the profile page: a public id (the
-- key's hash is never shown), the device and address, last activity.
ALTER TABLE sessions ADD COLUMN id UUID NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE sessions ADD CONSTRAINT sessions_id_key UNIQUE (id);
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now();
