-- Retention (issue 17): entries older than the operator's setting expire.
-- The serving role still may not delete entries; it may only ask this
-- function, which runs as the tables' owner, to remove the start of one
-- chain, up to (not including) the entry `first_kept`, and refuses when
-- any of those entries is younger than 90 days (the shortest retention
-- the console accepts), whatever the console asks. The console records
-- the expiry in the chain, with the link its first kept entry continues
-- from, in the same transaction (docs/audit-integrity.md). People left
-- with no entry leave the user select (audit_actors).
CREATE FUNCTION audit_expire(chain_key UUID, first_kept BIGINT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed BIGINT;
BEGIN
    IF chain_key = '00000000-0000-0000-0000-000000000000' THEN
        PERFORM 1 FROM audit_entries
            WHERE account_id IS NULL AND id < first_kept
              AND occurred_at > now() - interval '90 days';
    ELSE
        PERFORM 1 FROM audit_entries
            WHERE account_id = chain_key AND id < first_kept
              AND occurred_at > now() - interval '90 days';
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'audit entries are kept for at least 90 days'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The append-only trigger lets these deletes through, and only these.
    PERFORM set_config('team_console.audit_expiry', 'on', true);
    IF chain_key = '00000000-0000-0000-0000-000000000000' THEN
        DELETE FROM audit_entries WHERE account_id IS NULL AND id < first_kept;
    ELSE
        DELETE FROM audit_entries WHERE account_id = chain_key AND id < first_kept;
    END IF;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('team_console.audit_expiry', 'off', true);
    -- The Audit logs page's user select lists who acted in what is kept.
    DELETE FROM audit_actors p
     WHERE p.account_id = chain_key
       AND NOT EXISTS (SELECT 1 FROM audit_entries e
                        WHERE e.account_id = p.account_id AND e.actor_id = p.user_id);
    RETURN removed;
END
$$;

-- A role that may delete entries (the owner; the serving role may not)
-- could set the flag itself: the trigger keeps honest mistakes out, the
-- privileges and `audit verify` keep the rest.
CREATE OR REPLACE FUNCTION audit_entries_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('team_console.audit_expiry', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
