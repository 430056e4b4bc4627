//! Backups of the console's database, and restoring them.
//!
//! A backup is a pg_dump archive in its custom format, taken online: one
//! snapshot, read in one transaction, while the console goes on serving.
//! It is taken as the role that owns the tables (MIGRATION_DATABASE_URL,
//! or the local cluster's owner role): the serving role may not read
//! diesel's record of migrations, and the archive must carry it, since it
//! is the backup's schema version. A restore recreates everything as the
//! target's owner role and grants the serving role its privileges the way
//! a migration run does, so a backup moves between machines whose roles
//! have other names (`restore`). Scheduled backups are claimed through the
//! database (`schedule`).
//!
//! The console's secret key is not in the database, so not in a backup:
//! keep it apart (README, Operations).

pub mod conninfo;
pub mod files;
pub mod restore;
pub mod schedule;
pub mod tools;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

pub use restore::{Restored, restore};
pub use schedule::Schedule;
pub use tools::PgTools;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "pg_dump and pg_restore were not found (looked at `pg_config --bindir`, PATH and /usr/lib/postgresql/*/bin); install the PostgreSQL client programs (e.g. apt-get install postgresql-client)"
    )]
    ProgramsNotFound,
    #[error("{program} failed ({status}): {stderr}")]
    Program {
        program: &'static str,
        status: String,
        stderr: String,
    },
    #[error("{} holds no Team Console database (no record of its migrations)", .0.display())]
    NotABackup(PathBuf),
    #[error(
        "the backup's schema ({backup}) is newer than this console's ({console}); restore it with the console version that took it, or a later one"
    )]
    NewerThanConsole { backup: String, console: String },
    #[error(
        "the target database is not empty (rows in {tables}); restore into an empty database or data folder, or add --force to replace what it holds"
    )]
    NotEmpty { tables: String },
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot connect to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Migration(#[from] anyhow::Error),
}

/// A backup written to disk.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Taken {
    pub file: PathBuf,
    /// The latest migration the backup holds.
    pub schema_version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    pub bytes: u64,
}

/// Backs up the database of `url` (a role that owns the tables) to `out`:
/// a folder (or a path ending in `/`, created if missing) gets a file named
/// by [`files::name`], anything else is the file's own name (replaced if it
/// exists). The archive is written under a
/// hidden name, made durable, read back for its schema version, and only
/// then renamed into place, so a half-written backup never looks like one.
/// The file is private (mode 0600): it holds password hashes, sessions and
/// the invites' secrets.
pub fn take(
    tools: &PgTools,
    url: &str,
    out: &Path,
    taken_at: OffsetDateTime,
) -> Result<Taken, BackupError> {
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { what, path, source }
    };
    if out.as_os_str().as_encoded_bytes().ends_with(b"/") {
        fs::create_dir_all(out).map_err(io_err("cannot create", out))?;
    }
    let (dir, fixed_name) = if out.is_dir() {
        (out.to_path_buf(), None)
    } else {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
        (dir, name)
    };
    let partial = dir.join(files::partial_name(
        fixed_name
            .as_deref()
            .unwrap_or(&format!("team-console-{}", files::stamp(taken_at))),
    ));
    let result = (|| {
        let file = create_private(&partial).map_err(io_err("cannot create", &partial))?;
        tools.dump(url, &file)?;
        file.sync_all().map_err(io_err("cannot write", &partial))?;
        let versions = tools.schema_versions(&partial)?;
        let schema_version = versions.last().cloned().unwrap_or_default();
        let name = fixed_name
            .clone()
            .unwrap_or_else(|| files::name(taken_at, &schema_version));
        let file_path = dir.join(name);
        fs::rename(&partial, &file_path).map_err(io_err("cannot rename into", &file_path))?;
        if let Ok(dir) = fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        let bytes = fs::metadata(&file_path).map_or(0, |m| m.len());
        Ok(Taken {
            file: file_path,
            schema_version,
            taken_at,
            bytes,
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Creates `path` afresh, readable and writable by its owner only.
fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}
