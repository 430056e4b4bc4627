DROP INDEX audit_entries_chain_idx;
DROP TABLE audit_chains;
ALTER TABLE audit_entries DROP COLUMN hash, DROP COLUMN prev_hash;
