-- Scheduled backups (BACKUP_DIR, BACKUP_EVERY). Every console process
-- sharing this database reads when the last one was taken, so one backup
-- is taken per period, whichever process takes it; a session advisory lock
-- lets one process at a time do it (src/backup/schedule.rs). `host` says
-- whose BACKUP_DIR holds the file when the processes do not share one.
-- Written by the owner role only: the serving role is granted nothing here,
-- so it cannot make a missed backup look taken.
CREATE TABLE backups (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at       TIMESTAMPTZ NOT NULL,
    file           TEXT NOT NULL,
    bytes          BIGINT NOT NULL,
    schema_version TEXT NOT NULL,
    host           TEXT NOT NULL
);
CREATE INDEX backups_taken_at_idx ON backups (taken_at DESC);
