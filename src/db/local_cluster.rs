//! A private PostgreSQL cluster run from a data folder with the server
//! programs installed on the machine.
//!
//! The console needs no setup: when no `DATABASE_URL` is given it creates (on
//! first use, with `initdb`) and starts its own cluster under its data folder,
//! listening only on a Unix socket inside that folder. The test harness uses
//! the same code to start one throwaway cluster per test run (fsync off), so
//! what the tests exercise is what the console runs.
//!
//! Layout of the cluster folder `dir`: `dir/pgdata` (PGDATA), `dir/run` (the
//! socket directory), `dir/postgres.log` (what the server says while it
//! starts) and `dir/log/` (its log once running: one file per hour of the
//! day, each overwritten a day later, so the log never holds more than a
//! day and cannot fill the disk). Our settings live in
//! `pgdata/postgresql.console.conf`, rewritten on every start and included
//! from `postgresql.conf`.
//!
//! When running as root (initdb refuses root), every server program runs as
//! the `postgres` system user, or `nobody` if there is none; `dir` is chowned
//! to that user and its ancestors are made traversable.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Uid, User};

/// Longest path a Unix socket address can hold (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
const PORT: u16 = 5432;
const CONSOLE_CONF: &str = "postgresql.console.conf";
const INCLUDE_LINE: &str = "include_if_exists = 'postgresql.console.conf'";
const INITDB_ARGS: [&str; 5] = [
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--no-locale",
];
/// Client/server variables from our environment that must not leak into the server programs.
const CLEARED_ENV: [&str; 6] = [
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGUSER",
    "PGDATABASE",
];

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "the PostgreSQL server programs (initdb, pg_ctl, postgres) were not found (looked at `pg_config --bindir`, PATH and /usr/lib/postgresql/*/bin); install the PostgreSQL server packages (e.g. apt-get install postgresql) or set DATABASE_URL to use an existing server"
    )]
    ServerProgramsNotFound,
    #[error(
        "the PostgreSQL socket path {path} is {len} bytes long, over the {MAX_SOCKET_PATH}-byte limit of Unix sockets; use a shorter DATA_DIR"
    )]
    SocketPathTooLong { path: PathBuf, len: usize },
    #[error(
        "running as root, but neither a `postgres` nor a `nobody` user exists to run the PostgreSQL server as"
    )]
    NoServerUser,
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("`{command}` failed ({status}): {stderr}{log}")]
    Command {
        command: String,
        status: String,
        stderr: String,
        log: String,
    },
}

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `false` turns off fsync, synchronous_commit and full_page_writes (for throwaway test clusters).
    pub fsync: bool,
    /// The server's log goes to hourly files in `dir/log` (the console's
    /// own cluster); `false` keeps everything in `dir/postgres.log` (the
    /// benchmark reads statements from it).
    pub rotate_logs: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            fsync: true,
            rotate_logs: true,
        }
    }
}

impl ClusterOptions {
    /// For a cluster that lives as long as a test run or a benchmark.
    pub fn throwaway() -> Self {
        ClusterOptions {
            fsync: false,
            rotate_logs: false,
        }
    }
}

/// A running (or stopped) cluster in a folder; stopped (fast) when dropped.
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    pgdata: PathBuf,
    run_dir: PathBuf,
    log_file: PathBuf,
    log_dir: PathBuf,
    bindir: PathBuf,
    /// The user the server runs as when we are root; `None` runs as ourselves.
    run_as: Option<(Uid, Gid)>,
    options: ClusterOptions,
    started: bool,
}

trait Ctx<T> {
    /// Wraps an I/O error as `ClusterError::Io` saying what failed on which path.
    fn ctx(self, what: &str, path: impl AsRef<Path>) -> Result<T, ClusterError>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, what: &str, path: impl AsRef<Path>) -> Result<T, ClusterError> {
        self.map_err(|source| ClusterError::Io {
            what: format!("{what} {}", path.as_ref().display()),
            source,
        })
    }
}

impl LocalCluster {
    /// Creates the cluster in `dir` on first use (initdb), otherwise reuses it, and starts it.
    ///
    /// If `pgdata/postmaster.pid` names a live postgres process running on this
    /// data folder (a previous console run that was killed), that server is stopped
    /// (`pg_ctl stop -m fast`) and started again, so the current options apply. A pid
    /// file naming a dead or unrelated process is removed with stale socket files.
    pub fn start(dir: &Path, options: ClusterOptions) -> Result<LocalCluster, ClusterError> {
        let mut cluster = LocalCluster::new(dir, options)?;
        cluster.init_if_needed()?;
        cluster.start_server()?;
        tracing::info!(
            dir = %cluster.dir.display(),
            bindir = %cluster.bindir.display(),
            log = %cluster.log_file.display(),
            "local PostgreSQL cluster started"
        );
        Ok(cluster)
    }

    /// The cluster in `dir` as it is: while a console serves from it, its
    /// server is used as it runs (and left running); otherwise it is
    /// started as by [`LocalCluster::start`] and stopped when dropped.
    /// `backup` and `restore` use this, so they never restart the server
    /// of a console that is serving.
    pub fn attach_or_start(
        dir: &Path,
        options: ClusterOptions,
    ) -> Result<LocalCluster, ClusterError> {
        let cluster = LocalCluster::new(dir, options.clone())?;
        if cluster.running_server().is_some() {
            tracing::info!(dir = %cluster.dir.display(), "using the running local PostgreSQL cluster");
            return Ok(cluster);
        }
        LocalCluster::start(dir, options)
    }

    /// Whether the cluster in `dir` was ever created (initdb ran to its end).
    pub fn exists(dir: &Path) -> bool {
        dir.join("pgdata").join("PG_VERSION").is_file()
    }

    fn new(dir: &Path, options: ClusterOptions) -> Result<LocalCluster, ClusterError> {
        fs::create_dir_all(dir).ctx("cannot create", dir)?;
        let dir = fs::canonicalize(dir).ctx("cannot resolve", dir)?;
        let run_dir = dir.join("run");
        let socket = run_dir.join(format!(".s.PGSQL.{PORT}"));
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(ClusterError::SocketPathTooLong { path: socket, len });
        }
        let bindir = find_bindir().ok_or(ClusterError::ServerProgramsNotFound)?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = ["postgres", "nobody"]
                .iter()
                .find_map(|name| User::from_name(name).ok().flatten())
                .ok_or(ClusterError::NoServerUser)?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        Ok(LocalCluster {
            pgdata: dir.join("pgdata"),
            log_file: dir.join("postgres.log"),
            log_dir: dir.join("log"),
            dir,
            run_dir,
            bindir,
            run_as,
            options,
            started: false,
        })
    }

    /// The cluster in `dir` that another process (the console serving on
    /// that data folder) runs: reached through its socket, never started
    /// or stopped from here.
    pub fn attach(dir: &Path) -> Result<LocalCluster, ClusterError> {
        let cluster = LocalCluster::new(dir, ClusterOptions::default())?;
        if !cluster.is_running() {
            return Err(ClusterError::Io {
                what: format!("no PostgreSQL server runs on {}", cluster.pgdata.display()),
                source: io::Error::from(io::ErrorKind::NotFound),
            });
        }
        Ok(cluster)
    }

    /// The folder of the server programs this cluster runs with (pg_dump
    /// and pg_restore of the same version are there too).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// libpq URL for database `dbname` through the Unix socket, as the
    /// superuser `postgres`.
    pub fn database_url(&self, dbname: &str) -> String {
        self.database_url_as("postgres", dbname)
    }

    /// libpq URL for database `dbname` through the Unix socket, as `user`
    /// (no password: the socket trusts whoever can reach it).
    pub fn database_url_as(&self, user: &str, dbname: &str) -> String {
        let host = percent_encode(self.run_dir.as_os_str().as_encoded_bytes());
        let user = percent_encode(user.as_bytes());
        let db = percent_encode(dbname.as_bytes());
        // The port names the socket file; spelled out so a PGPORT in the
        // environment cannot redirect libpq.
        format!("postgres://{user}@/{db}?host={host}&port=5432")
    }

    /// Fast shutdown (pg_ctl stop -m fast -w); idempotent.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        self.stop_mode("fast")
    }

    /// Immediate shutdown (pg_ctl stop -m immediate -w); idempotent.
    pub fn stop_immediate(&mut self) -> Result<(), ClusterError> {
        self.stop_mode("immediate")
    }

    /// Starts the cluster again after a stop (same folder and options); a running
    /// cluster is stopped first.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        self.stop()?;
        self.start_server()
    }

    /// What the server writes while it starts (and everything, without
    /// `rotate_logs`).
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Where the running server's hourly log files are (`rotate_logs`).
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Whether the postmaster we started is still alive: its pid file
    /// names a live postgres process on our data folder.
    pub fn is_running(&self) -> bool {
        fs::read_to_string(self.pgdata.join("postmaster.pid"))
            .ok()
            .and_then(|pid| {
                pid.lines()
                    .next()
                    .and_then(|l| l.trim().parse::<i32>().ok())
            })
            .is_some_and(|pid| pid > 0 && self.is_our_postgres(pid))
    }

    /// Starts the server again after it died (crash recovery replays the
    /// WAL); what a stale pid file and socket left behind is cleared first.
    pub fn start_again(&mut self) -> Result<(), ClusterError> {
        self.started = false;
        self.start_server()
    }

    pub fn data_dir(&self) -> &Path {
        &self.pgdata
    }

    fn stop_mode(&mut self, mode: &str) -> Result<(), ClusterError> {
        if !self.started {
            return Ok(());
        }
        let result = self.pg_ctl_stop(mode);
        if result.is_ok() || !self.pgdata.join("postmaster.pid").exists() {
            self.started = false;
            tracing::info!(dir = %self.dir.display(), "local PostgreSQL cluster stopped");
            return Ok(());
        }
        result
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), ClusterError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.pgdata)
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        run(cmd, None)
    }

    fn init_if_needed(&self) -> Result<(), ClusterError> {
        if self.pgdata.join("PG_VERSION").is_file() {
            return Ok(());
        }
        if self.pgdata.exists() {
            tracing::warn!(pgdata = %self.pgdata.display(), "removing an incomplete PostgreSQL data folder (interrupted initdb)");
            fs::remove_dir_all(&self.pgdata).ctx("cannot remove", &self.pgdata)?;
        }
        self.prepare_dirs()?;
        tracing::info!(pgdata = %self.pgdata.display(), "creating a PostgreSQL cluster (initdb)");
        let mut cmd = self.command("initdb");
        cmd.arg("-D").arg(&self.pgdata).args(INITDB_ARGS);
        run(cmd, None)
    }

    fn start_server(&mut self) -> Result<(), ClusterError> {
        self.clear_previous_server()?;
        self.write_config()?;
        self.prepare_dirs()?;
        set_mode(&self.pgdata, 0o700)?;
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.pgdata)
            .arg("-l")
            .arg(&self.log_file);
        cmd.args(["-w", "-t", "60", "start"]);
        run(cmd, Some(&self.log_file))?;
        self.started = true;
        Ok(())
    }

    /// Handles a `postmaster.pid` left by an earlier run (see [`LocalCluster::start`]).
    fn clear_previous_server(&self) -> Result<(), ClusterError> {
        let pid_file = self.pgdata.join("postmaster.pid");
        let Ok(contents) = fs::read_to_string(&pid_file) else {
            return Ok(());
        };
        let pid = contents
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|&p| p > 0 && self.is_our_postgres(p)) {
            tracing::warn!(pid, pgdata = %self.pgdata.display(), "a PostgreSQL server from a previous run is still running; stopping it");
            return self.pg_ctl_stop("fast");
        }
        tracing::warn!(pid_file = %pid_file.display(), "removing a stale postmaster.pid");
        remove_if_exists(&pid_file)?;
        if let Ok(entries) = fs::read_dir(&self.run_dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".s.PGSQL.") {
                    remove_if_exists(&entry.path())?;
                }
            }
        }
        Ok(())
    }

    /// The pid of a postgres serving this data folder, with its socket in place.
    fn running_server(&self) -> Option<i32> {
        let contents = fs::read_to_string(self.pgdata.join("postmaster.pid")).ok()?;
        let pid = contents.lines().next()?.trim().parse::<i32>().ok()?;
        let socket = self.run_dir.join(format!(".s.PGSQL.{PORT}"));
        (pid > 0 && self.is_our_postgres(pid) && socket.exists()).then_some(pid)
    }

    fn is_our_postgres(&self, pid: i32) -> bool {
        use nix::errno::Errno;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) | Err(Errno::EPERM) => {}
            Err(_) => return false,
        }
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let pgdata = self.pgdata.as_os_str().as_encoded_bytes();
        comm.trim() == "postgres" && cmdline.windows(pgdata.len()).any(|w| w == pgdata)
    }

    fn write_config(&self) -> Result<(), ClusterError> {
        let switch = if self.options.fsync { "on" } else { "off" };
        let run_dir = self.run_dir.to_string_lossy().replace('\'', "''");
        let conf = format!(
            "# Written by team-console on every start; edits are overwritten.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{run_dir}'\n\
             unix_socket_permissions = 0700\n\
             fsync = {switch}\n\
             synchronous_commit = {switch}\n\
             full_page_writes = {switch}\n\
             max_connections = 200\n\
             shared_buffers = 128MB\n"
        );
        let conf = if self.options.rotate_logs {
            let log_dir = self.log_dir.to_string_lossy().replace('\'', "''");
            format!(
                "{conf}logging_collector = on\n\
                 log_directory = '{log_dir}'\n\
                 log_filename = 'postgresql-%H.log'\n\
                 log_rotation_age = 60\n\
                 log_rotation_size = 0\n\
                 log_truncate_on_rotation = on\n"
            )
        } else {
            conf
        };
        let conf_path = self.pgdata.join(CONSOLE_CONF);
        fs::write(&conf_path, conf).ctx("cannot write", &conf_path)?;
        let main_conf = self.pgdata.join("postgresql.conf");
        let current = fs::read_to_string(&main_conf).ctx("cannot read", &main_conf)?;
        if !current.lines().any(|l| l.trim() == INCLUDE_LINE) {
            fs::write(&main_conf, format!("{current}\n{INCLUDE_LINE}\n"))
                .ctx("cannot write", &main_conf)?;
        }
        Ok(())
    }

    /// Creates the run dir and, as root, hands `dir` to the server user.
    fn prepare_dirs(&self) -> Result<(), ClusterError> {
        fs::create_dir_all(&self.run_dir).ctx("cannot create", &self.run_dir)?;
        set_mode(&self.run_dir, 0o700)?;
        fs::create_dir_all(&self.log_dir).ctx("cannot create", &self.log_dir)?;
        let Some((uid, gid)) = self.run_as else {
            return Ok(());
        };
        chown_recursive(&self.dir, uid, gid)?;
        for ancestor in self.dir.ancestors().skip(1) {
            let meta = fs::metadata(ancestor).ctx("cannot inspect", ancestor)?;
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 && std::os::unix::fs::MetadataExt::uid(&meta) != uid.as_raw() {
                tracing::warn!(dir = %ancestor.display(), "adding o+x so the PostgreSQL server user can reach its data folder");
                set_mode(ancestor, (mode & 0o7777) | 0o001)?;
            }
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.current_dir(&self.dir).env("HOME", &self.dir);
        for var in CLEARED_ENV {
            cmd.env_remove(var);
        }
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "could not stop the local PostgreSQL cluster");
        }
    }
}

/// Runs `cmd` with output captured; on failure the error carries its stderr and,
/// if `log` is given, the tail of that server log.
fn run(mut cmd: Command, log: Option<&Path>) -> Result<(), ClusterError> {
    let command = format!("{cmd:?}");
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Io {
            what: format!("cannot run {command}"),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    let log = log.map(|path| log_tail(path, 30)).unwrap_or_default();
    Err(ClusterError::Command {
        command,
        status: output.status.to_string(),
        stderr,
        log,
    })
}

fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return String::new();
    };
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    format!("\n--- last lines of {} ---\n{tail}", path.display())
}

/// What the cluster runs: its server programs.
const SERVER_PROGRAMS: &[&str] = &["initdb", "pg_ctl", "postgres"];

fn find_bindir() -> Option<PathBuf> {
    find_programs(SERVER_PROGRAMS)
}

/// The folder holding every one of `programs`: `pg_config --bindir`, then
/// PATH, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_programs(programs: &[&str]) -> Option<PathBuf> {
    let has_programs = |dir: &Path| programs.iter().all(|p| dir.join(p).is_file());
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| has_programs(d)) {
        return Some(dir);
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_programs(d))
    {
        return Some(dir);
    }
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version: f64 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_programs(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, bin)| bin)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ClusterError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).ctx("cannot set the mode of", path)
}

fn remove_if_exists(path: &Path) -> Result<(), ClusterError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).ctx("cannot remove", path),
        _ => Ok(()),
    }
}

fn chown_recursive(path: &Path, uid: Uid, gid: Gid) -> Result<(), ClusterError> {
    std::os::unix::fs::lchown(path, Some(uid.as_raw()), Some(gid.as_raw()))
        .ctx("cannot chown", path)?;
    let meta = fs::symlink_metadata(path).ctx("cannot inspect", path)?;
    if meta.is_dir() {
        let entries = fs::read_dir(path).ctx("cannot list", path)?;
        for entry in entries {
            let entry = entry.ctx("cannot list", path)?;
            chown_recursive(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
