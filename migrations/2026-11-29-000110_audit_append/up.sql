-- Appends an entry to its chain in one call (issue 17: what the chain
-- costs writers). Before, the console locked the chain's head, computed the
-- hash and sent the entry and the new head: three round trips, two of them
-- while holding the head's lock, so the writers of one account waited on
-- the console as well as on the database. Here the head is locked, the
-- entry linked and inserted and the head moved in one statement, and the
-- lock is held only for it and the commit.
--
-- `fields` is what the hash covers after the link, encoded by the console
-- (docs/audit-integrity.md, `chain::entry_hash`): the hash is SHA-256 of
-- the prefix, the head's last hash and those bytes, exactly as
-- `chain::entry_hash` computes it, so `audit verify` checks these entries
-- like any other. It runs with the caller's privileges: nothing the
-- serving role could not already do with INSERT and UPDATE.
CREATE FUNCTION audit_append(
    chain_key UUID,
    fields BYTEA,
    p_occurred_at TIMESTAMPTZ,
    p_account_id UUID,
    p_actor_id UUID,
    p_actor_email TEXT,
    p_actor_name TEXT,
    p_action TEXT,
    p_resource_type TEXT,
    p_resource_id TEXT,
    p_ip TEXT,
    p_user_agent TEXT,
    p_details JSONB
) RETURNS BYTEA LANGUAGE plpgsql AS $$
DECLARE
    prev BYTEA;
    linked BYTEA;
BEGIN
    -- Takes the head: a lock, not a new row version (a new chain's head
    -- is made first, from 32 zero bytes); one UPDATE below moves it.
    SELECT last_hash INTO prev FROM audit_chains WHERE chain = chain_key FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chains (chain, last_hash, entries)
            VALUES (chain_key, decode(repeat('00', 32), 'hex'), 0)
            ON CONFLICT (chain) DO NOTHING;
        SELECT last_hash INTO prev FROM audit_chains WHERE chain = chain_key FOR UPDATE;
    END IF;
    linked := sha256(convert_to(E'team-console audit entry v1\n', 'UTF8') || prev || fields);
    INSERT INTO audit_entries (occurred_at, account_id, actor_id, actor_email, actor_name,
                               action, resource_type, resource_id, ip, user_agent, details,
                               prev_hash, hash)
        VALUES (p_occurred_at, p_account_id, p_actor_id, p_actor_email, p_actor_name,
                p_action, p_resource_type, p_resource_id, p_ip, p_user_agent, p_details,
                prev, linked);
    UPDATE audit_chains SET last_hash = linked, entries = entries + 1 WHERE chain = chain_key;
    RETURN linked;
END
$$;
