//! `team-console [serve|migrate]`: parse configuration, provide a database
//! (the given one, or a local cluster in DATA_DIR), migrate it as the
//! owner role, serve as the serving role.

use anyhow::Context;
use clap::Parser;
use diesel::{Connection, PgConnection};
use team_console::Application;
use team_console::config::{Cli, Command};
use team_console::db::roles::DatabaseUrls;
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
            let local =
                LocalCluster::start(&options.data_dir.join("postgres"), Default::default())?;
            let urls = db::roles::local_database(&local, LOCAL_DATABASE)
                .context("creating the console's database and roles in the local cluster")?;
            cluster = Some(local);
            urls
        }
    };

    let result = run(cli.command.unwrap_or(Command::Serve), &options, urls);
    if let Some(mut cluster) = cluster {
        if let Err(e) = cluster.stop() {
            tracing::error!(error = %e, "could not stop the local PostgreSQL cluster");
        } else {
            tracing::info!("local PostgreSQL cluster stopped");
        }
    }
    result
}

fn run(
    command: Command,
    options: &team_console::config::Options,
    urls: DatabaseUrls,
) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(&urls.migration)
        .context("connecting to the database to migrate")?;
    db::migrate(&mut conn)?;
    db::roles::grant_to_serving_role(&mut conn, &urls.serving)?;
    drop(conn);
    if command == Command::Migrate {
        tracing::info!("database migrated");
        return Ok(());
    }
    let settings = options.settings(urls.serving)?;
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
