ALTER TABLE users DROP COLUMN deleted_at;
ALTER TABLE accounts DROP COLUMN deleted_at;
