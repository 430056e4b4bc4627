DROP INDEX audit_entries_search_idx;
DROP EXTENSION IF EXISTS pg_trgm;
ALTER TABLE audit_entries DROP COLUMN actor_name;
