-- Everyone who has acted in an account (former members included): the
-- user select of the Audit logs page. A trigger on the log keeps it, in
-- the same transaction as the entries, so the page reads a few rows
-- instead of probing the log's actor index once per person. One trigger
-- call per statement: the benchmark's seed inserts a million entries a
-- statement.
CREATE TABLE audit_actors (
    account_id uuid NOT NULL,
    user_id uuid NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

INSERT INTO audit_actors (account_id, user_id)
SELECT DISTINCT account_id, actor_id FROM audit_entries
 WHERE account_id IS NOT NULL AND actor_id IS NOT NULL;

CREATE FUNCTION audit_actors_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_actors (account_id, user_id)
    SELECT DISTINCT account_id, actor_id FROM new_entries
     WHERE account_id IS NOT NULL AND actor_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER audit_entries_actors
    AFTER INSERT ON audit_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_actors_add();
