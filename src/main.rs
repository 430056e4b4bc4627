//! `team-console [serve|migrate]`: parse configuration, bind the port,
//! provide a database (the given one, or a local cluster in DATA_DIR,
//! locked to this process and restarted if it dies), migrate it as the
//! owner role, serve as the serving role.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use diesel::{Connection, PgConnection};
use team_console::Application;
use team_console::config::{AuditCommand, Cli, Command};
use team_console::db::roles::DatabaseUrls;
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| team_console::LOG_FILTER.into()),
        )
        .init();
    let options = cli.options;
    let command = cli.command.unwrap_or(Command::Serve);

    // The port first: a taken address is said before anything is started.
    let listener = match command {
        Command::Serve => Some(bind(&options.bind_addr)?),
        Command::Migrate | Command::Audit(_) => None,
    };

    let mut local = None;
    let urls = match &options.database_url {
        Some(url) => DatabaseUrls {
            migration: options
                .migration_database_url
                .clone()
                .unwrap_or(url.clone()),
            serving: url.clone(),
        },
        None if matches!(command, Command::Audit(_)) && db::data_dir::in_use(&options.data_dir) => {
            // The console serving on this folder runs the cluster: use it
            // through its socket, leave it running.
            let cluster = LocalCluster::attach(&options.data_dir.join("postgres"))?;
            DatabaseUrls {
                migration: cluster.database_url_as(db::roles::LOCAL_OWNER, LOCAL_DATABASE),
                serving: cluster.database_url_as(db::roles::LOCAL_SERVING, LOCAL_DATABASE),
            }
        }
        None => {
            // Held until the process ends: one console per data folder.
            let lock = db::data_dir::lock(&options.data_dir)?;
            let cluster =
                LocalCluster::start(&options.data_dir.join("postgres"), Default::default())?;
            let urls = db::roles::local_database(&cluster, LOCAL_DATABASE)
                .context("creating the console's database and roles in the local cluster")?;
            local = Some((lock, Arc::new(Mutex::new(cluster))));
            urls
        }
    };

    let supervisor = match (&local, &listener) {
        (Some((_, cluster)), Some(_)) => Some(Supervisor::start(cluster.clone())),
        _ => None,
    };
    let result = match command {
        Command::Audit(audit) => audit_command(&audit, &options, urls),
        _ => run(listener, &options, urls),
    };
    drop(supervisor);
    if let Some((_lock, cluster)) = local {
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

/// `team-console audit …`: verify the chains, print the public key, seal.
fn audit_command(
    command: &AuditCommand,
    options: &team_console::config::Options,
    urls: DatabaseUrls,
) -> anyhow::Result<()> {
    use team_console::audit::chain;
    let key = chain::signing_key(&options.secret_key()?);
    let mut conn =
        PgConnection::establish(&urls.migration).context("connecting to the database")?;
    db::migrate(&mut conn)?;
    match command {
        AuditCommand::PublicKey => {
            println!("{}", chain::public_key_hex(&key.verifying_key()));
        }
        AuditCommand::Checkpoint => {
            let sealed = chain::checkpoint_all(&mut conn, &key, time::OffsetDateTime::now_utc())?;
            println!("{sealed} chain(s) sealed");
        }
        AuditCommand::Verify {
            account,
            public_key,
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
            let mut problems = 0;
            let checked = chains.len();
            for account in chains {
                let report = chain::verify(&mut conn, account, &public)?;
                let name = account.map_or("(no account)".to_string(), |a| a.to_string());
                println!(
                    "chain {name}: {} entries, {} checkpoints, {} before the chain began, {}",
                    report.entries,
                    report.checkpoints,
                    report.before_chain,
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
            println!("{checked} chain(s) checked: all intact");
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

/// Migrates, then serves on `listener` (none: migrate only).
fn run(
    listener: Option<TcpListener>,
    options: &team_console::config::Options,
    urls: DatabaseUrls,
) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(&urls.migration)
        .context("connecting to the database to migrate")?;
    db::migrate(&mut conn)?;
    db::roles::grant_to_serving_role(&mut conn, &urls.serving)?;
    drop(conn);
    let Some(listener) = listener else {
        tracing::info!("database migrated");
        return Ok(());
    };
    let settings = options.settings(urls.serving)?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build_on(listener, settings)?;
        tracing::info!(
            port = app.port(),
            "Team Console is listening (Ctrl-C to stop)"
        );
        app.run_until_stopped().await?;
        Ok(())
    })
}
