//! Scheduled backups: one per BACKUP_EVERY for the whole database, however
//! many console processes share it (SPEC §7: work that must happen once is
//! claimed through the database).
//!
//! Each process looks now and then ([`check_interval`]) whether the last
//! backup recorded in `backups` is older than the period. If it is, it
//! tries a session advisory lock: the one that gets it looks again (another
//! may have just finished), takes the backup into its BACKUP_DIR, records
//! it, rotates the folder and lets go; the others skip. PostgreSQL releases
//! the lock when its connection ends, so a process that dies mid-backup
//! holds up no one, and its missing row makes the backup due again.

use std::path::PathBuf;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Bool;
use time::OffsetDateTime;

use super::{BackupError, PgTools, Taken, files};
use crate::db::schema::backups;

/// Held for the whole of a scheduled backup. Any constant unique to this
/// use will do.
const BACKUP_LOCK: i64 = 0x7463_6261_636b_7570; // "tcbackup"

/// BACKUP_DIR, BACKUP_EVERY, BACKUP_KEEP, and the URL of the role that
/// owns the tables (pg_dump reads everything as that role).
#[derive(Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
    pub database_url: String,
}

impl std::fmt::Debug for Schedule {
    /// Without the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("dir", &self.dir)
            .field("every", &self.every)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// How often a process looks whether a backup is due: every period, at
/// most a minute, so a backup is at most a minute late.
pub fn check_interval(every: Duration) -> Duration {
    every.clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Takes the scheduled backups for as long as the task runs: looks every
/// [`check_interval`], and after a failure waits a period (at most ten
/// minutes) before trying again. Reports through logs and metrics.
pub async fn run(schedule: Schedule) {
    use crate::telemetry::{BACKUP_LAST_TAKEN, BACKUPS};
    let tools = match PgTools::find() {
        Ok(tools) => tools,
        Err(e) => {
            tracing::error!(error = %e, "scheduled backups are off");
            return;
        }
    };
    tracing::info!(dir = %schedule.dir.display(), every = ?schedule.every, keep = schedule.keep, "scheduled backups on");
    let retry = schedule.every.min(Duration::from_secs(600));
    loop {
        let (job, tools) = (schedule.clone(), tools.clone());
        let looked = tokio::task::spawn_blocking(move || tick(&job, &tools)).await;
        let wait = match looked {
            Ok(Ok((tick, last))) => {
                if let Some(last) = last {
                    metrics::gauge!(BACKUP_LAST_TAKEN).set(last.unix_timestamp() as f64);
                }
                if let Tick::Taken { taken, removed } = tick {
                    metrics::counter!(BACKUPS, "outcome" => "taken").increment(1);
                    tracing::info!(
                        file = %taken.file.display(),
                        bytes = taken.bytes,
                        schema_version = %taken.schema_version,
                        removed = removed.len(),
                        "scheduled backup taken"
                    );
                }
                check_interval(schedule.every)
            }
            Ok(Err(e)) => {
                metrics::counter!(BACKUPS, "outcome" => "failed").increment(1);
                tracing::error!(error = %e, retry_in = ?retry, "scheduled backup failed");
                retry
            }
            Err(e) => {
                metrics::counter!(BACKUPS, "outcome" => "failed").increment(1);
                tracing::error!(error = %e, retry_in = ?retry, "scheduled backup failed");
                retry
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// What one look found.
#[derive(Debug)]
pub enum Tick {
    /// This process took the backup; rotation deleted `removed`.
    Taken { taken: Taken, removed: Vec<PathBuf> },
    /// The last backup is recent enough.
    NotDue,
    /// Another process is taking it.
    Busy,
}

/// One look (see the module's doc), and when the last backup was taken by
/// any process, as far as this one saw.
pub fn tick(
    schedule: &Schedule,
    tools: &PgTools,
) -> Result<(Tick, Option<OffsetDateTime>), BackupError> {
    let mut conn = PgConnection::establish(&schedule.database_url)?;
    let (last, now) = last_taken(&mut conn)?;
    if !due(last, now, schedule.every) {
        return Ok((Tick::NotDue, last));
    }
    if !lock(&mut conn, "pg_try_advisory_lock")? {
        return Ok((Tick::Busy, last));
    }
    let result = take_if_due(&mut conn, schedule, tools);
    let _ = lock(&mut conn, "pg_advisory_unlock");
    result
}

/// Under the lock: looks again, then takes, records and rotates.
fn take_if_due(
    conn: &mut PgConnection,
    schedule: &Schedule,
    tools: &PgTools,
) -> Result<(Tick, Option<OffsetDateTime>), BackupError> {
    let (last, now) = last_taken(conn)?;
    if !due(last, now, schedule.every) {
        return Ok((Tick::NotDue, last));
    }
    std::fs::create_dir_all(&schedule.dir).map_err(|source| BackupError::Io {
        what: "cannot create",
        path: schedule.dir.clone(),
        source,
    })?;
    let taken = super::take(tools, &schedule.database_url, &schedule.dir, now)?;
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    diesel::insert_into(backups::table)
        .values((
            backups::taken_at.eq(taken.taken_at),
            backups::file.eq(taken.file.to_string_lossy()),
            backups::bytes.eq(taken.bytes as i64),
            backups::schema_version.eq(&taken.schema_version),
            backups::host.eq(host),
        ))
        .execute(conn)?;
    let removed =
        files::rotate(&schedule.dir, schedule.keep).map_err(|source| BackupError::Io {
            what: "cannot rotate the backups in",
            path: schedule.dir.clone(),
            source,
        })?;
    let at = taken.taken_at;
    Ok((Tick::Taken { taken, removed }, Some(at)))
}

/// The last recorded backup and the database's time (one clock for every
/// process, whatever theirs say).
fn last_taken(conn: &mut PgConnection) -> QueryResult<(Option<OffsetDateTime>, OffsetDateTime)> {
    backups::table
        .select((
            diesel::dsl::max(backups::taken_at),
            diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>(),
        ))
        .get_result(conn)
}

fn due(last: Option<OffsetDateTime>, now: OffsetDateTime, every: Duration) -> bool {
    last.is_none_or(|last| now - last >= every)
}

/// `pg_try_advisory_lock` or `pg_advisory_unlock` of [`BACKUP_LOCK`].
fn lock(conn: &mut PgConnection, function: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Done {
        #[diesel(sql_type = Bool)]
        done: bool,
    }
    Ok(
        diesel::sql_query(format!("SELECT {function}({BACKUP_LOCK}) AS done"))
            .get_result::<Done>(conn)?
            .done,
    )
}

/// Parses BACKUP_EVERY: a number and a unit (`s`, `m`, `h`, `d`), or
/// several (`1h30m`).
pub fn parse_every(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("unknown unit {c:?} (use s, m, h or d, e.g. 24h)")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("a number must come before {c:?} (e.g. 24h)"))?;
        total += Duration::from_secs(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("{number} needs a unit (s, m, h or d, e.g. 24h)"));
    }
    if total.is_zero() {
        return Err("the period must be longer than zero (e.g. 24h)".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_as_operators_write_them() {
        assert_eq!(parse_every("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_every("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_every("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_every("2s"), Ok(Duration::from_secs(2)));
        for bad in ["", "24", "h", "0h", "1w", "-1h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_backup_is_due_when_none_is_recent() {
        let now = OffsetDateTime::now_utc();
        let day = Duration::from_secs(86400);
        assert!(due(None, now, day));
        assert!(due(Some(now - day), now, day));
        assert!(!due(Some(now - Duration::from_secs(3600)), now, day));
    }
}
