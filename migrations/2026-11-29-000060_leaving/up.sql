-- Leaving for good (SPEC §13). A deleted team or personal account keeps its
-- row, so its Pods, billing transactions, invites and audit entries (and
-- their hash chain) keep what they refer to; every lookup of a live
-- account skips it. Its memberships are removed when it is deleted.
ALTER TABLE accounts ADD COLUMN deleted_at TIMESTAMPTZ;

-- A deleted user is a tombstone: the row stays (audit entries, Pods and
-- transactions name it), keeping the display name for history, while the
-- email is replaced by one that can never be typed, so the address is free
-- to sign up again (users_email_lower_key stays as it is).
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
