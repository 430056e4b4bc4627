-- One index per filter of the Audit logs page and for the common
-- combinations, each keyed by account first and ending with the page's
-- order (occurred_at DESC, id DESC), so the first page of any filtered
-- view is an index range scan that stops after 51 rows. No key needs
-- anything but columns of the row: the table can later be partitioned by
-- month on occurred_at.
CREATE INDEX audit_entries_actor_idx
    ON audit_entries (account_id, actor_id, occurred_at DESC, id DESC);
CREATE INDEX audit_entries_action_idx
    ON audit_entries (account_id, action, occurred_at DESC, id DESC);
CREATE INDEX audit_entries_resource_idx
    ON audit_entries (account_id, resource_type, occurred_at DESC, id DESC);
CREATE INDEX audit_entries_resource_id_idx
    ON audit_entries (account_id, resource_type, resource_id, occurred_at DESC, id DESC);
-- "What did this member do to Pods": user and resource type together.
CREATE INDEX audit_entries_actor_resource_idx
    ON audit_entries (account_id, actor_id, resource_type, occurred_at DESC, id DESC);
-- A resource id alone (without its type).
CREATE INDEX audit_entries_resource_id_only_idx
    ON audit_entries (account_id, resource_id, occurred_at DESC, id DESC);
