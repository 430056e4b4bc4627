DROP TRIGGER audit_entries_actors ON audit_entries;
DROP FUNCTION audit_actors_add();
DROP TABLE audit_actors;
