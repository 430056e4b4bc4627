//! `team-console [serve|migrate|backup|restore|audit|users]`: parse
//! configuration, bind the port (serve), provide a database (the given
//! one, or a local cluster in DATA_DIR, locked to this process and
//! restarted if it dies), then serve (after migrating it as the owner
//! role), migrate, back it up, restore a backup into it, or verify its
//! audit log.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use diesel::{Connection, PgConnection};
use team_console::Application;
use team_console::backup::{self, PgTools};
use team_console::config::{AuditCommand, Cli, Command, Options, UsersCommand};
use team_console::db::data_dir::DataDirLock;
use team_console::db::roles::{self, DatabaseUrls};
use team_console::db::supervisor::Supervisor;
use team_console::db::{self, local_cluster::LocalCluster};

/// The database the console creates in its own local cluster.
const LOCAL_DATABASE: &str = "team_console";

/// glibc's malloc took a third of the console's CPU time on the Audit logs
/// page under load (arena locks, consolidation); mimalloc's per-thread
/// heaps suit actix's worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    team_console::logging::init(cli.options.log_format);
    let options = cli.options;
    let command = cli.command.unwrap_or(Command::Serve);

    // An export is verified offline: no database, no data folder.
    if let Command::Audit(AuditCommand::Verify {
        export: Some(file),
        public_key: Some(public_key),
        ..
    }) = &command
    {
        return verify_export(file, public_key);
    }

    // The port first: a taken address is said before anything is started.
    let listener = match command {
        Command::Serve => Some(bind(&options.bind_addr)?),
        _ => None,
    };

    let mut cluster: Option<Local> = None;
    let urls = match &options.database_url {
        Some(url) => DatabaseUrls {
            migration: options
                .migration_database_url
                .clone()
                .unwrap_or(url.clone()),
            serving: url.clone(),
        },
        None => {
            let (local, urls) = local_cluster(&command, &options.data_dir)?;
            cluster = Some(local);
            urls
        }
    };

    let bindir = cluster.as_ref().map(|local| local.bindir().to_path_buf());
    let tools = || match &bindir {
        // The programs of the cluster's own server version.
        Some(bindir) => Ok(PgTools::in_dir(bindir)),
        None => PgTools::find(),
    };
    let supervisor = match (&cluster, &listener) {
        (Some(Local::Owned { cluster, .. }), Some(_)) => Some(Supervisor::start(cluster.clone())),
        _ => None,
    };
    let result = match command {
        Command::Backup { out } => tools()
            .map_err(anyhow::Error::from)
            .and_then(|tools| take_backup(&tools, &urls, &out)),
        Command::Restore { file, force } => tools()
            .map_err(anyhow::Error::from)
            .and_then(|tools| restore_backup(&tools, &urls, &file, force, &options)),
        Command::Audit(audit) => audit_command(&audit, &options, urls),
        Command::Users(users) => users_command(&users, &options, urls),
        Command::Serve | Command::Migrate => run(listener, &options, urls),
    };
    drop(supervisor);
    if let Some(Local::Owned { cluster, .. }) = cluster {
        let stopped = cluster.lock().map(|mut c| c.stop());
        match stopped {
            Ok(Ok(())) => tracing::info!("local PostgreSQL cluster stopped"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not stop the local PostgreSQL cluster")
            }
            Err(_) => tracing::error!("could not stop the local PostgreSQL cluster"),
        }
    }
    result
}

/// The console's own cluster: run by this process (holding the data
/// folder's lock), or by the console serving there, used through its
/// socket and left running.
enum Local {
    Owned {
        _lock: DataDirLock,
        cluster: Arc<Mutex<LocalCluster>>,
        bindir: PathBuf,
    },
    Borrowed {
        _cluster: LocalCluster,
        bindir: PathBuf,
    },
}

impl Local {
    fn bindir(&self) -> &Path {
        match self {
            Local::Owned { bindir, .. } | Local::Borrowed { bindir, .. } => bindir,
        }
    }
}

/// The local cluster in DATA_DIR/postgres and its URLs. `backup`,
/// `restore` and `audit` use the server of a console serving from that
/// folder as it runs; otherwise (and always for `serve` and `migrate`)
/// this process takes the folder's lock and starts the cluster
/// (restarting one a killed console left). A second `serve` on a folder
/// in use is refused by the lock.
fn local_cluster(command: &Command, data_dir: &Path) -> anyhow::Result<(Local, DatabaseUrls)> {
    let dir = data_dir.join("postgres");
    let direct = |local: &LocalCluster| DatabaseUrls {
        migration: local.database_url_as(roles::LOCAL_OWNER, LOCAL_DATABASE),
        serving: local.database_url_as(roles::LOCAL_SERVING, LOCAL_DATABASE),
    };
    if let Command::Backup { .. } = command {
        anyhow::ensure!(
            LocalCluster::exists(&dir),
            "{} holds no local database to back up (set DATA_DIR, or DATABASE_URL and MIGRATION_DATABASE_URL)",
            dir.display()
        );
    }
    let tool = !matches!(command, Command::Serve | Command::Migrate);
    if tool && db::data_dir::in_use(data_dir) {
        let local = LocalCluster::attach(&dir)?;
        let urls = direct(&local);
        let bindir = local.bindir().to_path_buf();
        return Ok((
            Local::Borrowed {
                _cluster: local,
                bindir,
            },
            urls,
        ));
    }
    // Held until the process ends: one console per data folder.
    let lock = db::data_dir::lock(data_dir)?;
    let local = LocalCluster::start(&dir, Default::default())?;
    let urls = match command {
        // Reading needs no roles or database made: they exist or there is nothing to back up.
        Command::Backup { .. } => direct(&local),
        _ => roles::local_database(&local, LOCAL_DATABASE)
            .context("creating the console's database and roles in the local cluster")?,
    };
    let bindir = local.bindir().to_path_buf();
    Ok((
        Local::Owned {
            _lock: lock,
            cluster: Arc::new(Mutex::new(local)),
            bindir,
        },
        urls,
    ))
}

fn take_backup(tools: &PgTools, urls: &DatabaseUrls, out: &Path) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let taken = backup::take(tools, &urls.migration, out, now).context("backing up")?;
    tracing::info!(
        file = %taken.file.display(),
        schema_version = %taken.schema_version,
        taken_at = %team_console::format::rfc3339(&taken.taken_at),
        bytes = taken.bytes,
        "backup written"
    );
    Ok(())
}

fn restore_backup(
    tools: &PgTools,
    urls: &DatabaseUrls,
    file: &Path,
    force: bool,
    options: &Options,
) -> anyhow::Result<()> {
    let restored = backup::restore(tools, file, urls, force)
        .with_context(|| format!("restoring {}", file.display()))?;
    tracing::info!(
        file = %file.display(),
        from_version = %restored.from_version,
        to_version = %restored.to_version,
        "backup restored"
    );
    if options.secret_key.is_none() && !options.data_dir.join("secret_key").exists() {
        tracing::warn!(
            data_dir = %options.data_dir.display(),
            "no SECRET_KEY and no DATA_DIR/secret_key: put the old machine's key in place before \
             serving, or a new one is generated, everyone must sign in again and invite links \
             already sent stop working (Admins can copy the new ones from Pending invites)"
        );
    }
    Ok(())
}

/// Migrates, then serves on `listener` (none: migrate only).
fn run(listener: Option<TcpListener>, options: &Options, urls: DatabaseUrls) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(&urls.migration)
        .context("connecting to the database to migrate")?;
    db::migrate(&mut conn)?;
    db::roles::grant_to_serving_role(&mut conn, &urls.serving)?;
    drop(conn);
    let Some(listener) = listener else {
        tracing::info!("database migrated");
        return Ok(());
    };
    let settings = options.settings(urls.serving, urls.migration)?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build_on(listener, settings)?;
        tracing::info!(
            port = app.port(),
            metrics_port = app.metrics_port(),
            "Team Console is listening (Ctrl-C to stop)"
        );
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// `team-console audit …`: verify the chains, export a log, print the
/// public key, seal, expire.
fn audit_command(
    command: &AuditCommand,
    options: &Options,
    urls: DatabaseUrls,
) -> anyhow::Result<()> {
    use team_console::audit::chain;
    let key = chain::signing_key(&options.secret_key()?);
    let mut conn =
        PgConnection::establish(&urls.migration).context("connecting to the database")?;
    db::migrate(&mut conn)?;
    match command {
        AuditCommand::Export { account, format } => {
            use team_console::audit::export::{self, Format};
            let format = if format == "csv" {
                Format::Csv
            } else {
                Format::JsonLines
            };
            let account = team_console::ids::AccountId::from_uuid(*account);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let written = export::write_all(&mut conn, account, format, &mut out)?;
            eprintln!("{written} entries written");
        }
        AuditCommand::PublicKey => {
            println!("{}", chain::public_key_hex(&key.verifying_key()));
        }
        AuditCommand::Checkpoint => {
            let sealed = chain::checkpoint_all(&mut conn, &key, time::OffsetDateTime::now_utc())?;
            println!("{sealed} chain(s) sealed");
        }
        AuditCommand::Expire => {
            let days = options.audit_retention_days;
            let removed = team_console::audit::retention::expire_all(
                &mut conn,
                &key,
                days,
                time::OffsetDateTime::now_utc(),
            )?;
            println!("{removed} entries older than {days} days expired");
        }
        AuditCommand::Verify {
            account,
            public_key,
            ..
        } => {
            let public = match public_key {
                Some(text) => chain::parse_public_key(text)
                    .context("--public-key is not an Ed25519 public key in hex")?,
                None => key.verifying_key(),
            };
            let chains = match account {
                Some(id) => vec![Some(team_console::ids::AccountId::from_uuid(*id))],
                None => chain::chains(&mut conn)?,
            };
            let mut reports = Vec::new();
            for account in chains {
                reports.push((account, chain::verify(&mut conn, account, &public)?));
            }
            print_reports(&reports)?;
        }
    }
    Ok(())
}

/// `team-console users reset-link EMAIL`: prints a reset link (audited as
/// the operator's doing), built from PUBLIC_URL (or http://BIND_ADDR).
fn users_command(
    command: &UsersCommand,
    options: &Options,
    urls: DatabaseUrls,
) -> anyhow::Result<()> {
    let mut conn =
        PgConnection::establish(&urls.migration).context("connecting to the database")?;
    db::migrate(&mut conn)?;
    match command {
        UsersCommand::ResetLink { email } => {
            let public_url = options
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", options.bind_addr));
            let public_url = public_url.trim_end_matches('/');
            let now = team_console::clock::Clock::system().now();
            let link =
                team_console::accounts::reset::operator_link(&mut conn, email, now, public_url)?;
            match link {
                Some(link) => println!("{link}"),
                None => anyhow::bail!("no account has the email {}", email.trim()),
            }
        }
    }
    Ok(())
}

/// The listening socket, or which address is taken and how to change it.
fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).with_context(|| {
        format!("cannot listen on {address}; set BIND_ADDR (or --bind-addr) to a free address")
    })
}

/// `audit verify --export FILE`: the export's chains, checked with only
/// the public key.
fn verify_export(file: &std::path::Path, public_key: &str) -> anyhow::Result<()> {
    use team_console::audit::{chain, export};
    let public = chain::parse_public_key(public_key)
        .context("--public-key is not an Ed25519 public key in hex")?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let entries = export::read(&bytes).with_context(|| format!("reading {}", file.display()))?;
    print_reports(&chain::verify_export(entries, &public))
}

/// Prints each chain's verification; an error (exit status 1) if any
/// found a problem.
fn print_reports(
    reports: &[(
        Option<team_console::ids::AccountId>,
        team_console::audit::chain::Report,
    )],
) -> anyhow::Result<()> {
    let mut problems = 0;
    for (account, report) in reports {
        let name = account.map_or("(no account)".to_string(), |a| a.to_string());
        println!(
            "chain {name}: {} entries, {} checkpoints, {} before the chain began, {} after the last checkpoint, {} expired before the first, {}",
            report.entries,
            report.checkpoints,
            report.before_chain,
            report.unsealed,
            report.expired,
            if report.problems.is_empty() {
                "intact"
            } else {
                "TAMPERED"
            }
        );
        for problem in &report.problems {
            println!("  {problem}");
        }
        problems += report.problems.len();
    }
    if problems > 0 {
        anyhow::bail!("the audit log fails verification: {problems} problem(s)");
    }
    println!("{} chain(s) checked: all intact", reports.len());
    Ok(())
}
