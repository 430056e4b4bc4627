//! Configuration: environment variables, each also a command-line flag.
//!
//! `Cli` is what an operator types; `Settings` is what the application runs
//! with once every default has been resolved (tests build `Settings` directly).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

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
    /// How often this console tries the spend sweep (`spend::sweep`);
    /// `None`: never (tests call the sweep themselves).
    pub spend_sweep_interval: Option<std::time::Duration>,
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
    /// Resolves everything but the database URL (which may need the
    /// embedded cluster to be started first).
    pub fn settings(&self, database_url: String) -> Result<Settings, ConfigError> {
        let secret_key = match &self.secret_key {
            Some(key) if key.len() < 32 => return Err(ConfigError::SecretTooShort),
            Some(key) => key.as_bytes().to_vec(),
            None => secret_key_from_file(&self.data_dir)?,
        };
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
            spend_sweep_interval: Some(crate::spend::sweep::INTERVAL),
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
