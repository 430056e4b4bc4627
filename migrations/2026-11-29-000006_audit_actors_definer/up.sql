-- The console serves through a role that may only read audit_actors
-- (src/db/roles.rs), so the trigger that keeps it from the log runs as the
-- function's owner, the role that owns the tables. Its search_path is
-- pinned with the temporary schema last: a temporary table the serving
-- role creates cannot stand in for audit_actors.
ALTER FUNCTION audit_actors_add() SECURITY DEFINER SET search_path = public, pg_temp;
