DROP TABLE audit_entries;
DROP FUNCTION audit_entries_refuse_change();
DROP TABLE sign_in_throttles;
DROP TABLE sessions;
DROP TABLE memberships;
DROP TABLE accounts;
DROP TABLE users;
