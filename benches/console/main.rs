//! `cargo bench --bench console -- [flags]`: the documented, repeatable
//! benchmark behind docs/benchmarks.md. One command on a fresh machine: it
//! starts a throwaway PostgreSQL cluster (temporary folder, fsync off),
//! migrates it, runs the real application on a random port, signs an Admin
//! up and makes a team through the application's own forms, seeds it, then
//! measures pages over HTTP with wrk against the very statements those
//! pages send, timed directly with pgbench in the same run. The report is
//! printed and written to `--out`.
//!
//! A bench target (`harness = false`) rather than a subcommand, so the
//! product neither ships it nor imports it: it sees the console only
//! through the library's public API, as the tests do. `cargo bench` builds
//! it with the release-like `bench` profile; `cargo test` leaves it out.

mod audit;
mod chain;
mod cores;
mod cpu;
mod http;
mod load;
mod pages;
mod seed;
mod sql;
mod storm;
mod sweep;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use diesel::{Connection, PgConnection};
use uuid::Uuid;

use team_console::config::{Options, Settings};
use team_console::db::{self, local_cluster::ClusterOptions, local_cluster::LocalCluster};

/// The console under test runs inside this process, so it gets the product
/// binary's allocator (src/main.rs): with another malloc the benchmark
/// would measure a console that is never shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DATABASE: &str = "team_console";
const ADMIN_EMAIL: &str = "ada@bench.example";
const PASSWORD: &str = "violet tractor banjo 7 harbour";

/// The benchmark of docs/benchmarks.md, in a throwaway cluster (needs wrk
/// and pgbench; ignores DATABASE_URL and DATA_DIR).
#[derive(Debug, Parser)]
#[command(name = "console", bin_name = "cargo bench --bench console --")]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
    /// The console's own settings, read as `team-console` reads them, so
    /// that DATABASE_POOL_SIZE sizes the console under test.
    #[command(
        flatten,
        next_help_heading = "Console options (the benchmark uses only the pool size)"
    )]
    options: Options,
    /// `cargo bench` appends `--bench` for libtest harnesses; this target
    /// has none, so the flag means nothing here.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The per-request access log stays quiet unless RUST_LOG asks for it:
    // it would measure the terminal.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    run(&cli.args, &cli.options)
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BenchArgs {
    /// Audit log sizes (entries of the team's account), ascending; each
    /// size adds entries to the previous one.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000")]
    pub sizes: Vec<i64>,
    /// Seconds per Audit logs case and concurrency (HTTP and SQL each).
    #[arg(long, default_value_t = 10)]
    pub case_duration: u64,
    /// Seconds per page of the signed-in pages load (HTTP and SQL each).
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// A smoke run: sizes 10000,100000 and 2 s per measurement.
    #[arg(long)]
    pub quick: bool,
    /// Which part to run.
    #[arg(long, value_enum, default_value_t = Suite::All)]
    pub only: Suite,
    /// Rounds of the spend sweep measurement (`--only sweep`), each with a
    /// different 1 % of the Pods over a limit.
    #[arg(long, default_value_t = 5)]
    pub sweep_rounds: usize,
    /// Where PostgreSQL runs: on cores of its own (split), or on the same
    /// cores as the console, wrk and pgbench (shared).
    #[arg(long, value_enum, default_value_t = cores::Cores::Split)]
    pub cores: cores::Cores,
    /// Folder the Markdown report is written to.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    All,
    /// Issue 6: the Audit logs first page at each size, each filter.
    Audit,
    /// Issue 7: dashboard, members, pods, audit under load, and the
    /// members page during a sign-in storm.
    Pages,
    /// No measurement: seeds the first size, prints the Audit logs URL and
    /// the Admin's cookie, and serves until interrupted (for profiling the
    /// console under a load of your own).
    Serve,
    /// Issue 16: the spend sweep over 1,000 teams and 10,000 running Pods,
    /// 1 % of them over a limit (needs neither wrk nor pgbench). Not part
    /// of `all`.
    Sweep,
    /// Issue 17: 32 writers recording entries with the hash chain and
    /// without (on one account, on 32), and `audit verify` of a chain of
    /// each `--sizes` (needs neither wrk nor pgbench). Not part of `all`.
    Chain,
}

/// The running application and what the cases need.
pub struct Bench {
    pub addr: SocketAddr,
    pub cookie: String,
    /// The team made through the forms: the largest log, the one the
    /// pages and the storm are measured on.
    pub account_id: Uuid,
    /// One team per log size, smallest first, all in the same tables.
    pub teams: Vec<Team>,
    pub conn: PgConnection,
    pub pgbench: PathBuf,
    pub target: sql::Target,
    /// The console's pool size: as many statements as it runs at once.
    pub pool_size: u32,
    /// The Admin who signed up: API keys are theirs.
    pub admin_id: Uuid,
    /// The cluster's data folder (its postmaster's pid, for CPU times).
    pub data_dir: PathBuf,
}

/// A team of the Admin's with a log of `entries`.
pub struct Team {
    pub entries: i64,
    pub account_id: Uuid,
    pub seeded: seed::Seeded,
}

impl Bench {
    /// The page answers 200 to the signed-in Admin (before and after each
    /// load run: a 303 to sign-in would not be counted by wrk).
    pub fn expect_ok(&self, path: &str) -> anyhow::Result<()> {
        get_ok(self.addr, &self.cookie, path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every statement one request of the page sends, with its values.
    pub fn page_sql(&mut self, path: &str) -> anyhow::Result<Vec<sql::Sql>> {
        self.expect_ok(path)?;
        let (addr, cookie) = (self.addr, self.cookie.clone());
        sql::capture(&mut self.conn, &self.target.server_log, || {
            get_ok(addr, &cookie, path)
        })
    }
}

fn get_ok(addr: SocketAddr, cookie: &str, path: &str) -> anyhow::Result<()> {
    let mut client = http::Client::new(addr);
    client.set_cookie_header(cookie);
    let res = client.get(path)?;
    if res.status != 200 {
        bail!("GET {path} answered {} instead of 200", res.status);
    }
    Ok(())
}

/// Deletes the throwaway cluster's folder, however the run ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &BenchArgs, options: &Options) -> anyhow::Result<()> {
    let mut args = args.clone();
    if args.quick {
        args.sizes = vec![10_000, 100_000];
        args.case_duration = 2;
        args.duration = 2;
    }
    if args.sizes.is_empty() || args.sizes.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--sizes must be ascending, e.g. 100000,1000000,10000000");
    }
    let pgbench = match args.only {
        Suite::Sweep | Suite::Chain => PathBuf::new(),
        _ => {
            load::require_wrk()?;
            sql::find_pgbench()?
        }
    };
    std::fs::create_dir_all(&args.out)?;

    let dir = TempDir(std::env::temp_dir().join(format!(
        "tc-bench-{}",
        &Uuid::new_v4().simple().to_string()[..8]
    )));
    eprintln!(
        "starting a throwaway PostgreSQL cluster in {} (fsync off)",
        dir.0.display()
    );
    let placement = cores::Placement::new(args.cores)?;
    eprintln!("{}", placement.description);
    // The cluster's processes inherit the placement of this thread; the
    // console's threads, wrk and pgbench, the one set after it.
    placement.enter_database()?;
    let mut cluster = LocalCluster::start(&dir.0.join("pg"), ClusterOptions::throwaway())?;
    tune(&mut cluster)?;
    placement.enter_rest()?;
    db::ensure_database(&cluster.database_url("postgres"), DATABASE)?;
    let url = cluster.database_url(DATABASE);
    let mut conn = PgConnection::establish(&url)?;
    db::migrate(&mut conn)?;
    diesel::RunQueryDsl::execute(
        diesel::sql_query("CREATE EXTENSION pg_stat_statements"),
        &mut conn,
    )?;
    if matches!(args.only, Suite::Sweep | Suite::Chain) {
        let (title, name) = match args.only {
            Suite::Sweep => ("Spend sweep benchmark", "sweep"),
            _ => ("Audit chain benchmark", "chain"),
        };
        let mut report = format!(
            "# {title}\n\n{} UTC. {}.\n\n",
            time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            placement.description
        );
        report.push_str(&match args.only {
            Suite::Sweep => sweep::run(&mut conn, &args)?,
            _ => chain::run(&mut conn, &url, &args)?,
        });
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let path = args.out.join(format!("{name}-{stamp}.md"));
        std::fs::write(&path, &report)?;
        println!("{report}");
        eprintln!("report written to {}", path.display());
        drop(conn);
        cluster.stop()?;
        return Ok(());
    }
    let work_dir = dir.0.join("work");
    std::fs::create_dir_all(&work_dir)?;

    let settings = Settings {
        database_url: url,
        bind_addr: "127.0.0.1:0".into(),
        public_url: None,
        secret_key: team_console::tokens::random_token(48).into_bytes(),
        cookie_secure: Some(false),
        // The sign-in storm forwards a new client address per attempt.
        trusted_proxy: Some([127, 0, 0, 1].into()),
        database_pool_size: options.database_pool_size,
        argon2: argon2::Params::default(),
        workers: None,
        clock: team_console::clock::Clock::system(),
        metrics_addr: None,
        backup: None,
        // The sweep is measured on its own (`--only sweep`); left running
        // here it would stop the seeded Pods (their accounts have no
        // funds) in the middle of the page measurements.
        spend_sweep_interval: None,
        // The API's speed is measured, not its limit (issue 21).
        api_rate_limit: 1_000_000_000,
        audit_retention_days: 400,
        // Mail goes to a folder of the run, and only when measured.
        mail: team_console::config::MailSettings {
            smtp_url: None,
            from: "Team Console <console@example.com>".into(),
            outbox_dir: work_dir.join("outbox"),
            interval: None,
        },
        // No destinations in the benchmark's accounts.
        audit_stream: team_console::config::AuditStreamSettings {
            allow_private: false,
            interval: None,
        },
    };
    let server = Server::start(settings)?;
    let (cookie, account_id) = sign_up_admin_team(server.addr)?;
    let admin_id = admin_id(&mut conn)?;
    // Every size is a team of its own in the same tables, so sizes can be
    // measured one right after the other; the Audit part needs them all.
    let sizes = match args.only {
        Suite::All | Suite::Audit => args.sizes.clone(),
        Suite::Pages | Suite::Serve | Suite::Sweep | Suite::Chain => vec![args.sizes[0]],
    };
    eprintln!(
        "seeding {} teams of 50 members and 50 Pods, and a second account",
        sizes.len()
    );
    seed::shared(&mut conn, admin_id)?;
    let mut teams = Vec::new();
    for (i, &entries) in sizes.iter().enumerate() {
        let largest = i + 1 == sizes.len();
        let team_id = match largest {
            true => account_id,
            false => seed::new_team(&mut conn, admin_id, &format!("Bench GPU {entries}"))?,
        };
        teams.push(Team {
            entries,
            account_id: team_id,
            seeded: seed::team(&mut conn, team_id)?,
        });
    }
    let targets: Vec<(Uuid, i64)> = teams.iter().map(|t| (t.account_id, t.entries)).collect();
    seed::audit_logs(&mut conn, &targets)?;
    let mut bench = Bench {
        addr: server.addr,
        cookie,
        account_id,
        conn,
        pgbench,
        target: sql::Target {
            socket_dir: cluster
                .data_dir()
                .parent()
                .context("cluster folder")?
                .join("run"),
            database: DATABASE.into(),
            work_dir,
            server_log: cluster.log_file().to_path_buf(),
        },
        data_dir: cluster.data_dir().to_path_buf(),
        teams,
        pool_size: options.database_pool_size,
        admin_id,
    };

    if args.only == Suite::Serve {
        println!(
            "serving {}\ncookie: {}\nstop with Ctrl-C",
            bench.url(&format!("/accounts/{account_id}/audit")),
            bench.cookie
        );
        // actix stops the server on SIGINT or SIGTERM.
        let _ = server.thread.join();
        drop(bench);
        cluster.stop()?;
        return Ok(());
    }
    let mut report = header(&args, &placement.description);
    if args.only != Suite::Pages {
        report.push_str(&audit::run(&mut bench, &args)?);
    }
    if args.only != Suite::Audit {
        report.push_str(&pages::run(&mut bench, &args)?);
        report.push_str(&storm::run(&mut bench, &args)?);
    }
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let path = args.out.join(format!("bench-{stamp}.md"));
    std::fs::write(&path, &report)?;
    println!("{report}");
    eprintln!("report written to {}", path.display());
    server.stop();
    drop(bench);
    cluster.stop()?;
    Ok(())
}

/// Lets pg_stat_statements count each page's statements and keeps
/// checkpoints out of the measurements; shared_buffers stays the
/// console's 128MB.
fn tune(cluster: &mut LocalCluster) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(&cluster.database_url("postgres"))?;
    // ALTER SYSTEM takes no parameters; these are fixed strings.
    for setting in [
        "shared_preload_libraries = 'pg_stat_statements'",
        "max_wal_size = '20GB'",
        "checkpoint_timeout = '1h'",
    ] {
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("ALTER SYSTEM SET {setting}")),
            &mut conn,
        )?;
    }
    drop(conn);
    cluster.restart()?;
    Ok(())
}

fn header(args: &BenchArgs, placement: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "# Benchmark run\n\n{} UTC, sizes {:?}, {} s per Audit logs case, {} s per page. \
         One machine runs PostgreSQL (fsync off), the console (workers: {cores}, pool of the default size), wrk and pgbench: {placement}.\n\n",
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        args.sizes,
        args.case_duration,
        args.duration,
    )
}

/// Signs up through the forms and converts to a team, as a person would.
fn sign_up_admin_team(addr: SocketAddr) -> anyhow::Result<(String, Uuid)> {
    let mut client = http::Client::new(addr);
    let token = client.get("/sign-up")?.csrf_token()?;
    let res = client.post_form(
        "/sign-up",
        &[
            ("email", ADMIN_EMAIL),
            ("display_name", "Ada Admin"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ],
    )?;
    let location = res.header("location").unwrap_or_default().to_string();
    let account_id = location
        .strip_prefix("/accounts/")
        .and_then(|id| Uuid::parse_str(id).ok())
        .with_context(|| format!("sign-up answered {} to {location:?}", res.status))?;
    let convert = format!("/accounts/{account_id}/convert");
    let token = client.get(&convert)?.csrf_token()?;
    let res = client.post_form(
        &convert,
        &[
            ("name", "Bench GPU"),
            ("confirm", "yes"),
            ("csrf_token", &token),
        ],
    )?;
    if res.status != 303 {
        bail!("converting to a team answered {}", res.status);
    }
    // Shows (and so clears) the welcome flashes.
    client.get(&format!("/accounts/{account_id}/members"))?;
    Ok((client.cookie_header(), account_id))
}

fn admin_id(conn: &mut PgConnection) -> anyhow::Result<Uuid> {
    use diesel::prelude::*;
    use team_console::db::schema::users;
    Ok(users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::id)
        .first(conn)?)
}

/// The application in its own thread and actix System, as the console's
/// `main` (src/main.rs) runs it.
struct Server {
    addr: SocketAddr,
    handle: team_console::Handle,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    fn start(settings: Settings) -> anyhow::Result<Server> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match team_console::Application::build(settings) {
                    Ok(app) => {
                        let _ = tx.send(Ok((app.port(), app.handle())));
                        if let Err(e) = app.run_until_stopped().await {
                            tracing::error!(error = %e, "the console stopped");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        let (port, handle) = rx.recv().context("the console's thread ended")??;
        Ok(Server {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            handle,
            thread,
        })
    }

    fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        let _ = self.thread.join();
    }
}

/// Milliseconds, for the tables.
fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

/// A pass/fail mark for the tables.
fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}
