//! Team Console: a server-rendered console where people administer the
//! accounts of a GPU cloud. `Application::build` assembles the whole app so
//! that `main` and the tests start the very same server.

pub mod accounts;
pub mod api;
pub mod api_keys;
pub mod audit;
pub mod authz;
pub mod backup;
pub mod billing;
pub mod clock;
pub mod config;
pub mod db;
pub mod format;
pub mod health;
pub mod ids;
pub mod invites;
pub mod logging;
pub mod mail;
pub mod members;
pub mod pods;
pub mod routes;
pub mod spend;
pub mod streaming;
pub mod telemetry;
pub mod tokens;
pub mod web;

use std::net::{IpAddr, TcpListener};

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web as aw};
use diesel::PgConnection;

use crate::config::Settings;
use crate::web::error::{AppError, AppResult};

/// What the console logs unless RUST_LOG says otherwise. actix-http logs
/// a request it cannot parse (a URL over 64 KiB, a broken header) as an
/// ERROR before any of our code runs, though it is the client's mistake
/// and gets its 400: that target is silenced, so an ERROR line always
/// means something of ours went wrong.
pub const LOG_FILTER: &str = "info,actix_server=warn,actix_http::h1::dispatcher=off";

/// Idle sessions end after this long without a request.
pub const SESSION_IDLE: time::Duration = time::Duration::minutes(30);

/// Shared by every request.
pub struct AppState {
    pub database: db::Database,
    /// Origin of every absolute link, e.g. "https://console.example.com".
    pub public_url: String,
    pub trusted_proxy: Option<IpAddr>,
    pub passwords: accounts::passwords::Passwords,
    pub secret_key: Vec<u8>,
    /// Makes invite links (signed with a key derived from the secret key).
    pub invite_links: invites::Links,
    /// Where the cores queue mail (sealed with a key derived from the
    /// secret key), with the public URL its links start with.
    pub outbox: mail::Outbox,
    /// Seal authenticator secrets and hash recovery codes (keys derived
    /// from the secret key).
    pub two_factor: accounts::two_factor::Keys,
    /// What time it is: every rule that depends on time reads this clock.
    pub clock: clock::Clock,
    /// Requests each API key may make per minute.
    pub api_rate_limit: u32,
    /// Days an audit entry is kept (AUDIT_RETENTION_DAYS).
    pub audit_retention_days: u32,
    /// Seals the audit stream destinations' secrets (key derived from the
    /// secret key).
    pub audit_stream_seal: streaming::Seal,
    /// AUDIT_STREAM_ALLOW_PRIVATE: destinations may be internal addresses
    /// (and http://).
    pub audit_stream_allow_private: bool,
}

impl AppState {
    /// Runs blocking diesel work on the thread pool with a pooled
    /// connection; whatever error it returns is the request's error.
    pub async fn db<T, E, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: Into<AppError>,
        T: Send + 'static,
    {
        let database = self.database.clone();
        self.database
            .block(move |checkout| {
                let mut conn = checkout.get()?;
                match f(&mut conn).map_err(Into::into) {
                    // A closed connection is already Unavailable; either
                    // way the pool's other dead connections go with it.
                    Err(e @ (AppError::Internal(_) | AppError::Unavailable(_)))
                        if db::connection_lost(&mut conn) =>
                    {
                        drop(conn);
                        database.drop_dead_idle();
                        Err(match e {
                            AppError::Unavailable(_) => e,
                            e => AppError::Unavailable(e.to_string()),
                        })
                    }
                    other => other,
                }
            })
            .await?
    }

    /// Runs a core function: its area's refusals come back as values for
    /// the handler to show; database errors are the request's error.
    pub async fn core<T, E, F>(&self, f: F) -> AppResult<Result<T, E>>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        E: db::CoreError + Send + 'static,
        T: Send + 'static,
    {
        self.db(move |conn| match f(conn).map_err(E::into_db) {
            Ok(value) => Ok(Ok(value)),
            Err(Ok(db_error)) => Err(AppError::from(db_error)),
            Err(Err(refusal)) => Ok(Err(refusal)),
        })
        .await
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// The /metrics listener's port and server, when METRICS_ADDR is set.
    metrics: Option<(u16, Server)>,
    /// The session sweeper and the backup schedule.
    background: Vec<tokio::task::AbortHandle>,
    /// Set when the console stops: background work running on a blocking
    /// thread (which aborting its task does not end) stops at its next
    /// step. Audit streaming reads it between entries.
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Stops the console: its servers (the public one and /metrics) and its
/// background work.
#[derive(Clone)]
pub struct Handle {
    servers: Vec<actix_web::dev::ServerHandle>,
    background: Vec<tokio::task::AbortHandle>,
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Handle {
    /// Ends the background work and tells every server to stop, at once;
    /// the future resolves when they have (dropping it does not cancel the
    /// stop). A backup being written finishes on its thread, unreported.
    pub fn stop(&self, graceful: bool) -> impl std::future::Future<Output = ()> + use<> {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for task in &self.background {
            task.abort();
        }
        let stopping: Vec<_> = self.servers.iter().map(|s| s.stop(graceful)).collect();
        async move {
            for stopped in stopping {
                stopped.await;
            }
        }
    }
}

impl Application {
    /// Binds the listener and builds the server (not yet running).
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.bind_addr)?;
        Application::build_on(listener, settings)
    }

    /// Builds the server on a listener bound already (`main` binds before
    /// it starts PostgreSQL, so a taken port is said first).
    pub fn build_on(listener: TcpListener, settings: Settings) -> anyhow::Result<Application> {
        let bound = listener.local_addr()?;
        // Bound before anything starts, so a taken port fails the start.
        let metrics_listener = match &settings.metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr)?),
            None => None,
        };
        let public_url = settings.resolved_public_url(bound);
        let secure = settings
            .cookie_secure
            .unwrap_or_else(|| public_url.starts_with("https://"));
        let invite_links = invites::Links::new(&public_url, &settings.secret_key);
        let outbox = mail::Outbox::new(&public_url, &settings.secret_key);
        let database = db::Database::new(db::pool(
            &settings.database_url,
            settings.database_pool_size,
        ));
        let mail = &settings.mail;
        let sender = mail::Sender::new(
            mail.smtp_url.as_deref(),
            &mail.from,
            &mail.outbox_dir,
            &settings.secret_key,
        )?;
        tracing::info!("mail is sent {}", sender.describe());
        let state = aw::Data::new(AppState {
            database: database.clone(),
            public_url,
            trusted_proxy: settings.trusted_proxy,
            passwords: accounts::passwords::Passwords::new(settings.argon2.clone()),
            secret_key: settings.secret_key.clone(),
            invite_links,
            outbox,
            two_factor: accounts::two_factor::Keys::new(&settings.secret_key),
            clock: settings.clock.clone(),
            api_rate_limit: settings.api_rate_limit,
            audit_retention_days: settings.audit_retention_days,
            audit_stream_seal: streaming::Seal::new(&settings.secret_key),
            audit_stream_allow_private: settings.audit_stream.allow_private,
        });
        let sessions = aw::Data::new(web::session_store::Sessions::new(
            Key::derive_from(&settings.secret_key),
            secure,
            SESSION_IDLE,
            clock::Clock::system(),
        ));
        // Expired sessions, every ten minutes (by the wall clock).
        let mut background = vec![spawn_every(
            database.clone(),
            std::time::Duration::from_secs(600),
            true,
            "deleting expired sessions",
            |conn| {
                Ok(accounts::sessions::delete_expired(
                    conn,
                    clock::Clock::system().now(),
                )?)
            },
            |_| {},
        )];
        // What mail leaves behind, daily: sent messages' rows after 90
        // days, expired reset links, devices unseen for a year.
        background.push(spawn_every(
            database.clone(),
            std::time::Duration::from_secs(24 * 3600),
            true,
            "forgetting what mail left behind",
            |conn| {
                let now = clock::Clock::system().now();
                Ok(mail::outbox::prune(conn, now)?
                    + accounts::reset::delete_expired(conn, now)?
                    + accounts::notices::forget_old_devices(conn, now)?)
            },
            |_| {},
        ));
        // Hourly, a signed checkpoint on every chain with something new
        // (one node at a time: `checkpoint_all` takes an advisory lock),
        // then what is older than AUDIT_RETENTION_DAYS expires (each chain
        // sealed again first; two consoles at once find nothing left for
        // the second to do).
        let (seal, days) = (
            audit::chain::signing_key(&settings.secret_key),
            settings.audit_retention_days,
        );
        background.push(spawn_every(
            database.clone(),
            std::time::Duration::from_secs(3600),
            false,
            "sealing and expiring the audit chains",
            move |conn| {
                let now = time::OffsetDateTime::now_utc();
                audit::chain::checkpoint_all(conn, &seal, now)?;
                Ok(audit::retention::expire_all(conn, &seal, days, now)?)
            },
            |removed| {
                if removed > 0 {
                    tracing::info!(removed, "audit entries expired");
                }
            },
        ));
        // The spend sweep, by the console's clock. Every console runs it;
        // its advisory lock lets one of them sweep at a time.
        if let Some(every) = settings.spend_sweep_interval {
            let clock = settings.clock.clone();
            background.push(spawn_every(
                database.clone(),
                every,
                true,
                "the spend sweep",
                move |conn| Ok(spend::sweep(conn, clock.now())?),
                |report: spend::SweepReport| {
                    if !report.stopped.is_empty() || report.alerts > 0 {
                        tracing::info!(
                            running = report.running,
                            stopped = report.stopped.len(),
                            alerts = report.alerts,
                            "spend sweep stopped Pods or raised alerts"
                        );
                    }
                },
            ));
        }
        // Mail that is due. Every console sends; each message is claimed
        // with SKIP LOCKED, so no two send the same one.
        if let Some(every) = mail.interval {
            let (clock, sender) = (settings.clock.clone(), std::sync::Arc::new(sender));
            background.push(spawn_every(
                database.clone(),
                every,
                true,
                "mail delivery",
                move |conn| Ok(mail::deliver_due(conn, &sender, clock.now())?),
                |report: mail::DeliveryReport| {
                    if report != mail::DeliveryReport::default() {
                        tracing::info!(
                            sent = report.sent,
                            retried = report.retried,
                            failed = report.failed,
                            "mail delivered"
                        );
                    }
                },
            ));
        }
        // Audit entries to their collectors. Every console delivers; each
        // destination is held by one at a time (an advisory lock).
        let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(every) = settings.audit_stream.interval {
            let clock = settings.clock.clone();
            let mut streamer =
                streaming::Streamer::new(&settings.secret_key, settings.audit_stream.allow_private);
            streamer.stopping = stopping.clone();
            let streamer = std::sync::Arc::new(streamer);
            background.push(spawn_every(
                database.clone(),
                every,
                true,
                "audit streaming",
                move |conn| Ok(streaming::deliver_due(conn, &streamer, clock.now())?),
                |_: streaming::DeliveryReport| {},
            ));
        }
        if let Some(schedule) = settings.backup.clone() {
            background.push(actix_web::rt::spawn(backup::schedule::run(schedule)).abort_handle());
        }
        let metrics = match metrics_listener {
            Some(listener) => {
                let port = listener.local_addr()?.port();
                let recorder = telemetry::install();
                Some((
                    port,
                    web::metrics::server(listener, state.clone(), recorder)?,
                ))
            }
            None => None,
        };

        let workers = settings.workers;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(sessions.clone())
                .app_data(
                    aw::FormConfig::default()
                        .limit(64 * 1024)
                        .error_handler(|e, _| {
                            AppError::BadRequest(format!("The form could not be read: {e}")).into()
                        }),
                )
                .app_data(aw::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
                .app_data(aw::QueryConfig::default().error_handler(|_, _| {
                    AppError::BadRequest("The address has an invalid parameter.".into()).into()
                }))
                .configure(routes::configure)
                .default_service(aw::to(|| async {
                    Err::<actix_web::HttpResponse, _>(AppError::NotFound)
                }))
                .wrap(from_fn(web::csrf::csrf_guard))
                .wrap(from_fn(web::input::gate))
                .wrap(ErrorHandlers::new().default_handler(web::error::render_error_page_in_layout))
                .wrap(from_fn(web::session_store::middleware))
                .wrap(ErrorHandlers::new().default_handler(web::error::render_error_page))
                .wrap(web::headers::security_headers(secure))
                .wrap(from_fn(web::headers::referrer_policy))
                .wrap(from_fn(api::rate_limit_headers))
                .wrap(from_fn(web::request_id::access_log))
        })
        .shutdown_timeout(30);
        let server = match workers {
            Some(n) => server.workers(n),
            None => server,
        }
        .listen(listener)?
        .run();
        Ok(Application {
            port: bound.port(),
            server,
            metrics,
            background,
            stopping,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the /metrics listener, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Runs until the servers stop (a signal, or [`Handle::stop`]), then
    /// ends the background work.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = match self.metrics {
            Some((_, metrics)) => {
                let (served, scraped) = futures_util::future::join(self.server, metrics).await;
                served.and(scraped)
            }
            None => self.server.await,
        };
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for task in &self.background {
            task.abort();
        }
        result
    }

    /// The running servers, for callers that stop them themselves.
    pub fn handle(&self) -> Handle {
        let mut servers = vec![self.server.handle()];
        servers.extend(self.metrics.as_ref().map(|(_, s)| s.handle()));
        Handle {
            servers,
            background: self.background.clone(),
            stopping: self.stopping.clone(),
        }
    }
}

/// Runs `work` with a pooled connection every `every` (the first time at
/// once, or after a whole period), hands what it returns to `done`, and
/// logs a failure as `what` failing: the console's background work.
fn spawn_every<T, W>(
    database: db::Database,
    every: std::time::Duration,
    at_once: bool,
    what: &'static str,
    work: W,
    done: impl Fn(T) + 'static,
) -> tokio::task::AbortHandle
where
    T: Send + 'static,
    W: Fn(&mut diesel::PgConnection) -> anyhow::Result<T> + Clone + Send + 'static,
{
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if !at_once {
            tick.tick().await;
        }
        loop {
            tick.tick().await;
            let work = work.clone();
            match database.background(move |conn| work(conn)).await {
                Ok(Ok(report)) => done(report),
                Ok(Err(e)) => tracing::warn!(error = %e, "{what} failed"),
                Err(e) => tracing::warn!(error = ?e, "{what} could not run"),
            }
        }
    })
    .abort_handle()
}
