-- Entries name their actor as they were called then, so a sentence of the
-- log reads the same after a rename.
ALTER TABLE audit_entries ADD COLUMN actor_name TEXT;

-- Free-text search of the log (trigram matching: any part of a name,
-- email, id or detail). pg_trgm is a trusted extension: the database's
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- What the search matches: the actor's name and email, the resource id and
-- every detail. `audit::query::Matches` writes the same expression, so the
-- planner can use this index for a rare term.
CREATE INDEX audit_entries_search_idx ON audit_entries USING gin (
    (coalesce(actor_name, '') || ' ' || coalesce(actor_email, '') || ' '
        || coalesce(resource_id, '') || ' ' || details::text) gin_trgm_ops
);
