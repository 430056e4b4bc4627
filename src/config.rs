//! Configuration: environment variables, each also a command-line flag.
//!
//! `Cli` is what an operator types; `Settings` is what the application runs
//! with once every default has been resolved (tests build `Settings` directly).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::backup::Schedule;
use crate::logging::LogFormat;

/// Team Console: administer the team accounts of a GPU cloud.
#[derive(Debug, Parser)]
#[command(name = "team-console", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve the console (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// The audit log as evidence (docs/audit-integrity.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Back up the database (pg_dump's custom format) while the console
    /// serves, as the role that owns the tables.
    Backup {
        /// Where to write it: a file, or a folder to write it in under a
        /// name holding the time and the schema version.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// People's accounts, for the operator.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Restore a backup into an empty database (or a new DATA_DIR), then
    /// migrate it forward and grant the serving role its privileges.
    Restore {
        /// A file written by `team-console backup` or a scheduled backup.
        file: PathBuf,
        /// Replace a database that holds rows.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum UsersCommand {
    /// Print a password reset link (valid for an hour, once) for the
    /// account with this email, for installs without mail. Audited as
    /// done by the operator. Links start with PUBLIC_URL.
    ResetLink {
        /// The email the person signs in with.
        email: String,
    },
}

#[derive(Debug, Subcommand, Clone, PartialEq, Eq)]
pub enum AuditCommand {
    /// Recompute every chain (or one account's) and check every signed
    /// checkpoint; exits 1 naming each problem found.
    Verify {
        /// Only this account's chain.
        #[arg(long)]
        account: Option<uuid::Uuid>,
        /// Check signatures with this public key (hex) instead of the one
        /// derived from SECRET_KEY.
        #[arg(long)]
        public_key: Option<String>,
        /// Verify this export instead of the database, offline (JSON Lines
        /// from `audit export`, or the Audit logs page's CSV): needs only
        /// the file and --public-key.
        #[arg(
            long,
            value_name = "FILE",
            requires = "public_key",
            conflicts_with = "account"
        )]
        export: Option<PathBuf>,
    },
    /// Write one account's audit log to stdout, newest first: any
    /// account, a deleted one included (its log is kept until retention
    /// ends, and nobody can open it in the console any more).
    Export {
        /// The account whose entries to write.
        #[arg(long)]
        account: uuid::Uuid,
        /// `csv` (the columns of the Audit logs page's export) or `jsonl`
        /// (one JSON object an entry).
        #[arg(long, default_value = "jsonl", value_parser = ["csv", "jsonl"])]
        format: String,
    },
    /// Print the public key that verifies this console's checkpoints.
    PublicKey,
    /// Seal every chain with a signed checkpoint now (the console also
    /// does it every hour).
    Checkpoint,
    /// Expire now what is older than AUDIT_RETENTION_DAYS (the console
    /// also does it every hour): each chain is sealed first, and the
    /// expiry recorded in it.
    Expire,
}

#[derive(Debug, Args, Clone)]
pub struct Options {
    /// PostgreSQL URL. Without it the console runs its own PostgreSQL
    /// cluster in DATA_DIR/postgres.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL URL to apply the migrations with: a role that owns the
    /// tables, so that DATABASE_URL's role can be one that only uses them.
    /// Defaults to DATABASE_URL.
    #[arg(
        long,
        env = "MIGRATION_DATABASE_URL",
        hide_env_values = true,
        requires = "database_url"
    )]
    pub migration_database_url: Option<String>,

    /// Folder for the console's own data: the embedded PostgreSQL cluster
    /// and the generated secret key.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,

    /// Public base URL (scheme, host and port) used for every absolute link,
    /// such as invite links. Defaults to http://BIND_ADDR.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Secret key (at least 32 characters) signing cookies and invite
    /// links. Generated once into DATA_DIR/secret_key when not given.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Mark cookies Secure (and send HSTS). Defaults to true when PUBLIC_URL
    /// is https.
    #[arg(long, env = "COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,

    /// Address of a reverse proxy whose X-Forwarded-For header is trusted
    /// for the client IP. Without it the header is ignored.
    #[arg(long, env = "TRUSTED_PROXY")]
    pub trusted_proxy: Option<IpAddr>,

    /// Database connections per console process.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10)]
    pub database_pool_size: u32,

    /// Argon2id memory cost in KiB (the crate's default; lower it only for tests).
    #[arg(long, env = "ARGON2_M_COST", default_value_t = argon2::Params::DEFAULT_M_COST)]
    pub argon2_m_cost: u32,

    /// Argon2id iterations.
    #[arg(long, env = "ARGON2_T_COST", default_value_t = argon2::Params::DEFAULT_T_COST)]
    pub argon2_t_cost: u32,

    /// Log format: text, or json (one object a line, for log collectors).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Address and port serving Prometheus metrics at /metrics; off unless
    /// set. Keep it private: it is not the public listener.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Folder for scheduled backups; with BACKUP_EVERY, turns them on.
    #[arg(long, env = "BACKUP_DIR", requires = "backup_every")]
    pub backup_dir: Option<PathBuf>,

    /// How often to back up (e.g. 24h, 6h, 30m), whichever console process
    /// sharing the database takes it.
    #[arg(long, env = "BACKUP_EVERY", value_parser = crate::backup::schedule::parse_every, requires = "backup_dir")]
    pub backup_every: Option<Duration>,

    /// Mail server URL: smtp://user:pass@host:587 (STARTTLS required),
    /// smtps://user:pass@host:465 (TLS), or smtp://127.0.0.1:2525 (plain,
    /// loopback hosts only; `?tls=none|opportunistic|required` overrides).
    /// Without it mail is written to DATA_DIR/outbox/ as .eml files.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Who the console's mail is from.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Team Console <team-console@localhost>"
    )]
    pub mail_from: String,

    /// Requests each API key may make per minute (SPEC §12), counted in
    /// the database so every console shares the count.
    #[arg(long, env = "API_RATE_LIMIT", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_rate_limit: u32,

    /// Days an audit entry is kept before it expires (at least 90). Each
    /// account's log keeps its chain verifiable across the cut
    /// (docs/audit-integrity.md).
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = crate::audit::retention::DEFAULT_DAYS, value_parser = clap::value_parser!(u32).range(crate::audit::retention::MIN_DAYS as i64..))]
    pub audit_retention_days: u32,

    /// Let audit stream destinations be private, loopback or other
    /// internal addresses, and http:// URLs (for a collector on the
    /// console's own network, and for tests). Off: https:// to public
    /// addresses only.
    #[arg(long, env = "AUDIT_STREAM_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub audit_stream_allow_private: bool,

    /// How many scheduled backups BACKUP_DIR keeps (the newest).
    #[arg(long, env = "BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..))]
    pub backup_keep: u16,
}

/// Everything the application needs to run, fully resolved.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind_addr: String,
    /// `None`: derived from the address actually bound (tests bind port 0).
    pub public_url: Option<String>,
    pub secret_key: Vec<u8>,
    pub cookie_secure: Option<bool>,
    pub trusted_proxy: Option<IpAddr>,
    pub database_pool_size: u32,
    pub argon2: argon2::Params,
    /// HTTP worker threads; `None`: one per core.
    pub workers: Option<usize>,
    /// What time it is (tests substitute a manual clock).
    pub clock: crate::clock::Clock,
    /// Where /metrics is served; `None`: nowhere.
    pub metrics_addr: Option<String>,
    /// Scheduled backups; `None`: off.
    pub backup: Option<Schedule>,
    /// How often this console tries the spend sweep (`spend::sweep`);
    /// `None`: never (tests call the sweep themselves).
    pub spend_sweep_interval: Option<std::time::Duration>,
    /// Requests each API key may make per minute.
    pub api_rate_limit: u32,
    /// Days an audit entry is kept before it expires.
    pub audit_retention_days: u32,
    /// How mail is sent.
    pub mail: MailSettings,
    /// How audit entries are streamed to collectors.
    pub audit_stream: AuditStreamSettings,
}

/// Streaming the audit log (src/streaming).
#[derive(Clone, Debug)]
pub struct AuditStreamSettings {
    /// Destinations may be internal addresses, and http://.
    pub allow_private: bool,
    /// How often this console delivers what is due
    /// (`streaming::deliver_due`); `None`: never (tests deliver themselves).
    pub interval: Option<Duration>,
}

/// How the console sends mail (src/mail).
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The SMTP server; `None`: `.eml` files in `outbox_dir`.
    pub smtp_url: Option<String>,
    pub from: String,
    /// DATA_DIR/outbox.
    pub outbox_dir: PathBuf,
    /// How often this console sends what is due (`mail::deliver_due`);
    /// `None`: never (tests deliver themselves).
    pub interval: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("SECRET_KEY must be at least 32 characters long")]
    SecretTooShort,
    #[error("cannot read or write the secret key file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid Argon2 parameters: {0}")]
    Argon2(String),
}

impl Options {
    /// SECRET_KEY, or the one kept in DATA_DIR (made on first use).
    pub fn secret_key(&self) -> Result<Vec<u8>, ConfigError> {
        match &self.secret_key {
            Some(key) if key.len() < 32 => Err(ConfigError::SecretTooShort),
            Some(key) => Ok(key.as_bytes().to_vec()),
            None => secret_key_from_file(&self.data_dir),
        }
    }

    /// Resolves everything but the database URLs (which may need the
    /// embedded cluster to be started first): the console serves with
    /// `database_url`, and takes scheduled backups with `owner_url`.
    pub fn settings(
        &self,
        database_url: String,
        owner_url: String,
    ) -> Result<Settings, ConfigError> {
        let secret_key = self.secret_key()?;
        let argon2 = argon2::Params::new(
            self.argon2_m_cost,
            self.argon2_t_cost,
            argon2::Params::DEFAULT_P_COST,
            None,
        )
        .map_err(|e| ConfigError::Argon2(e.to_string()))?;
        Ok(Settings {
            database_url,
            bind_addr: self.bind_addr.clone(),
            public_url: self.public_url.clone(),
            secret_key,
            cookie_secure: self.cookie_secure,
            trusted_proxy: self.trusted_proxy,
            database_pool_size: self.database_pool_size,
            argon2,
            workers: None,
            clock: crate::clock::Clock::system(),
            metrics_addr: self.metrics_addr.clone(),
            backup: self.backup_schedule(owner_url),
            spend_sweep_interval: Some(crate::spend::sweep::INTERVAL),
            api_rate_limit: self.api_rate_limit,
            audit_retention_days: self.audit_retention_days,
            mail: self.mail_settings(),
            audit_stream: AuditStreamSettings {
                allow_private: self.audit_stream_allow_private,
                interval: Some(crate::streaming::delivery::INTERVAL),
            },
        })
    }

    pub fn mail_settings(&self) -> MailSettings {
        MailSettings {
            smtp_url: self.smtp_url.clone(),
            from: self.mail_from.clone(),
            outbox_dir: self.data_dir.join("outbox"),
            interval: Some(crate::mail::INTERVAL),
        }
    }

    fn backup_schedule(&self, owner_url: String) -> Option<Schedule> {
        Some(Schedule {
            dir: self.backup_dir.clone()?,
            every: self.backup_every?,
            keep: usize::from(self.backup_keep),
            database_url: owner_url,
        })
    }
}

/// Reads DATA_DIR/secret_key, creating it (mode 0600) on first run.
fn secret_key_from_file(data_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let path = data_dir.join("secret_key");
    let io_err = |source| ConfigError::SecretFile {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => return Err(ConfigError::SecretTooShort),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io_err)?;
    let key = crate::tokens::random_token(48);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    file.write_all(key.as_bytes()).map_err(io_err)?;
    Ok(key.into_bytes())
}

impl Settings {
    /// The public origin ("scheme://host[:port]") once the port is known.
    pub fn resolved_public_url(&self, bound: std::net::SocketAddr) -> String {
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        url.trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention(args: &[&str]) -> Result<u32, clap::Error> {
        let argv = ["team-console"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| cli.options.audit_retention_days)
    }

    #[test]
    fn audit_retention_defaults_to_400_days_and_refuses_under_90() {
        assert_eq!(retention(&[]).unwrap(), 400);
        assert_eq!(retention(&["--audit-retention-days", "90"]).unwrap(), 90);
        let refused = retention(&["--audit-retention-days", "30"]).unwrap_err();
        assert!(refused.to_string().contains("90"), "{refused}");
    }
}
