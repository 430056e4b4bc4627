-- Each entry links to the one before it in its chain (its account's, or
-- the chain of what belongs to no account) by SHA-256 over a documented
-- encoding (docs/audit-integrity.md), so a changed, deleted, inserted or
-- reordered entry shows when the chain is verified. Entries written
-- before this migration carry no hash: they come before their chain.
ALTER TABLE audit_entries ADD COLUMN prev_hash BYTEA, ADD COLUMN hash BYTEA;

-- The newest link of each chain (the account's id, or the nil UUID), locked
-- while an entry is appended: one account's writers queue, other accounts'
-- do not wait.
CREATE TABLE audit_chains (
    chain UUID PRIMARY KEY,
    last_hash BYTEA NOT NULL,
    entries BIGINT NOT NULL
);

-- Verification walks each chain in the order it was written.
CREATE INDEX audit_entries_chain_idx ON audit_entries (account_id, id);
