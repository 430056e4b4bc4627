//! `team-console [serve|migrate|backup|restore]`: parse configuration,
//! provide a database (the given one, or a local cluster in DATA_DIR),
//! then serve (after migrating it as the owner role), migrate, back it up
//! or restore a backup into it.

use std::path::Path;

use anyhow::Context;
use clap::Parser;
use diesel::{Connection, PgConnection};
use team_console::Application;
use team_console::backup::{self, PgTools};
use team_console::config::{Cli, Command, Options};
use team_console::db::roles::{self, DatabaseUrls};
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

    let mut cluster = None;
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

    let tools = || match &cluster {
        // The programs of the cluster's own server version.
        Some(local) => Ok(PgTools::in_dir(local.bindir())),
        None => PgTools::find(),
    };
    let result = match command {
        Command::Backup { out } => tools()
            .map_err(anyhow::Error::from)
            .and_then(|tools| take_backup(&tools, &urls, &out)),
        Command::Restore { file, force } => tools()
            .map_err(anyhow::Error::from)
            .and_then(|tools| restore_backup(&tools, &urls, &file, force, &options)),
        command => run(command, &options, urls),
    };
    if let Some(mut cluster) = cluster
        && let Err(e) = cluster.stop()
    {
        tracing::error!(error = %e, "could not stop the local PostgreSQL cluster");
    }
    result
}

/// The local cluster in DATA_DIR/postgres and its URLs. `backup` and
/// `restore` use the server of a console serving from it as it runs;
/// `serve` and `migrate` start it (restarting one a killed console left).
fn local_cluster(
    command: &Command,
    data_dir: &Path,
) -> anyhow::Result<(LocalCluster, DatabaseUrls)> {
    let dir = data_dir.join("postgres");
    let local = match command {
        Command::Backup { .. } => {
            anyhow::ensure!(
                LocalCluster::exists(&dir),
                "{} holds no local database to back up (set DATA_DIR, or DATABASE_URL and MIGRATION_DATABASE_URL)",
                dir.display()
            );
            LocalCluster::attach_or_start(&dir, Default::default())?
        }
        Command::Restore { .. } => LocalCluster::attach_or_start(&dir, Default::default())?,
        Command::Serve | Command::Migrate => LocalCluster::start(&dir, Default::default())?,
    };
    let urls = match command {
        // Reading needs no roles or database made: they exist or there is nothing to back up.
        Command::Backup { .. } => DatabaseUrls {
            migration: local.database_url_as(roles::LOCAL_OWNER, LOCAL_DATABASE),
            serving: local.database_url_as(roles::LOCAL_SERVING, LOCAL_DATABASE),
        },
        _ => roles::local_database(&local, LOCAL_DATABASE)
            .context("creating the console's database and roles in the local cluster")?,
    };
    Ok((local, urls))
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

fn run(command: Command, options: &Options, urls: DatabaseUrls) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(&urls.migration)
        .context("connecting to the database to migrate")?;
    db::migrate(&mut conn)?;
    db::roles::grant_to_serving_role(&mut conn, &urls.serving)?;
    drop(conn);
    if command == Command::Migrate {
        tracing::info!("database migrated");
        return Ok(());
    }
    let settings = options.settings(urls.serving, urls.migration)?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        tracing::info!(
            port = app.port(),
            metrics_port = app.metrics_port(),
            "Team Console is listening (Ctrl-C to stop)"
        );
        app.run_until_stopped().await?;
        Ok(())
    })
}
