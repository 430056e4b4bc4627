//! pg_dump and pg_restore, found where the console finds PostgreSQL's
//! server programs (`db::local_cluster::find_programs`).
//!
//! Each runs with `--no-password` (no prompt can hang a scheduled backup)
//! and the password in its environment, never in its arguments
//! (`conninfo`). A `Command` is never formatted with `{:?}`: that would
//! print its environment, password included.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BackupError;
use super::conninfo;
use crate::db::local_cluster::find_programs;

/// The table diesel records applied migrations in: an archive's schema
/// version is its latest row.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

#[derive(Debug, Clone)]
pub struct PgTools {
    bindir: PathBuf,
}

impl PgTools {
    /// The newest pg_dump and pg_restore on the machine (they read any
    /// older server).
    pub fn find() -> Result<PgTools, BackupError> {
        find_programs(&["pg_dump", "pg_restore"])
            .map(|bindir| PgTools { bindir })
            .ok_or(BackupError::ProgramsNotFound)
    }

    /// The programs in `bindir`, e.g. those of the local cluster's server.
    pub fn in_dir(bindir: &Path) -> PgTools {
        PgTools {
            bindir: bindir.to_path_buf(),
        }
    }

    /// Writes a custom-format archive of `url`'s database to `out`. pg_dump
    /// reads one snapshot in one transaction, so the archive is consistent
    /// while the console goes on writing, and it blocks no writer.
    pub fn dump(&self, url: &str, out: &File) -> Result<(), BackupError> {
        let out = out.try_clone().map_err(|source| BackupError::Io {
            what: "cannot hand the backup file to pg_dump",
            path: PathBuf::new(),
            source,
        })?;
        let mut cmd = self.command("pg_dump", url);
        cmd.arg("--format=custom").stdout(Stdio::from(out));
        run("pg_dump", cmd).map(drop)
    }

    /// Restores `archive` into `url`'s database in one transaction, every
    /// object owned by the role of `url`, no grant taken from the archive
    /// (the roles of the machine that made it need not exist here).
    pub fn restore(&self, archive: &Path, url: &str) -> Result<(), BackupError> {
        let mut cmd = self.command("pg_restore", url);
        cmd.args([
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
        ])
        .arg(archive)
        .stdout(Stdio::null());
        run("pg_restore", cmd).map(drop)
    }

    /// The migrations recorded in `archive`, read from the archive alone
    /// (no database needed), oldest first.
    pub fn schema_versions(&self, archive: &Path) -> Result<Vec<String>, BackupError> {
        let mut cmd = Command::new(self.bindir.join("pg_restore"));
        cmd.args(["--data-only", "--file=-"])
            .arg(format!("--table={MIGRATIONS_TABLE}"))
            .arg(archive)
            .stdout(Stdio::piped());
        let script = run("pg_restore", cmd)?;
        let versions = copied_rows(&script, MIGRATIONS_TABLE)
            .map(|rows| {
                let mut versions: Vec<String> = rows
                    .iter()
                    .filter_map(|row| row.split('\t').next())
                    .map(str::to_string)
                    .collect();
                versions.sort();
                versions
            })
            .unwrap_or_default();
        if versions.is_empty() {
            return Err(BackupError::NotABackup(archive.to_path_buf()));
        }
        Ok(versions)
    }

    fn command(&self, program: &str, url: &str) -> Command {
        let conninfo = conninfo::split(url);
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.arg("--no-password")
            .arg(format!("--dbname={}", conninfo.without_password));
        if let Some(password) = conninfo.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd
    }
}

/// The rows of the `COPY table … FROM stdin;` block of a pg_restore script.
fn copied_rows<'a>(script: &'a str, table: &str) -> Option<Vec<&'a str>> {
    let mut lines = script.lines();
    lines.find(|line| line.starts_with("COPY ") && line.contains(table))?;
    Some(lines.take_while(|line| *line != "\\.").collect())
}

/// Runs `cmd` (stdin closed, stderr captured) and gives back its standard
/// output if it was captured; an error carries the end of its stderr.
fn run(program: &'static str, mut cmd: Command) -> Result<String, BackupError> {
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| BackupError::Io {
            what: "cannot run",
            path: PathBuf::from(program),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let tail: String = stderr
            .char_indices()
            .rev()
            .nth(2000)
            .map_or(stderr, |(i, _)| &stderr[i..])
            .to_string();
        return Err(BackupError::Program {
            program,
            status: output.status.to_string(),
            stderr: tail,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_rows_are_read_from_a_restore_script() {
        let script = "--\n-- PostgreSQL database dump\n--\n\
            COPY public.__diesel_schema_migrations (version, run_on) FROM stdin;\n\
            00000000000000\t2026-11-29 03:00:00.1\n\
            20261127000001\t2026-11-29 03:00:00.2\n\
            \\.\n\n-- done\n";
        assert_eq!(
            copied_rows(script, MIGRATIONS_TABLE).unwrap(),
            [
                "00000000000000\t2026-11-29 03:00:00.1",
                "20261127000001\t2026-11-29 03:00:00.2"
            ]
        );
        assert_eq!(copied_rows("-- nothing\n", MIGRATIONS_TABLE), None);
    }
}
