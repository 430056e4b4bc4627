//! The database: the connection pool, embedded migrations, the roles that
//! migrate and serve, and the local cluster the console runs when no
//! DATABASE_URL is given.

pub mod data_dir;
pub mod local_cluster;
pub mod roles;
pub mod schema;
pub mod supervisor;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::PgConnection;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::{QueryResult, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

/// `query LIMIT rows`, the number written into the statement instead of
/// bound. PostgreSQL keeps one generic plan for a prepared statement only
/// if it looks as cheap as a plan made for the values at hand; with a
/// bound LIMIT it must assume a tenth of the table, so it planned a page
/// query again on every execution (pg_stat_statements: as many plans as
/// calls, 0.08 ms each).
pub struct Limited<Q> {
    query: Q,
    rows: i64,
}

pub fn limited<Q>(query: Q, rows: i64) -> Limited<Q> {
    Limited { query, rows }
}

impl<Q: Query> Query for Limited<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Limited<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.rows));
        Ok(())
    }
}

/// Cached by its SQL text, like the boxed queries it wraps.
impl<Q> QueryId for Limited<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> RunQueryDsl<PgConnection> for Limited<Q> {}

/// The error of a core function: one of its area's refusals (a value its
/// handler shows), or a database error (the request's error).
pub trait CoreError: From<diesel::result::Error> {
    /// The database error, or the refusal given back.
    fn into_db(self) -> Result<diesel::result::Error, Self>;
}

impl CoreError for diesel::result::Error {
    fn into_db(self) -> Result<diesel::result::Error, Self> {
        Ok(self)
    }
}

/// Implements `CoreError` for an area's error enum with a `Db` variant.
#[macro_export]
macro_rules! core_error {
    ($t:ty) => {
        impl $crate::db::CoreError for $t {
            fn into_db(self) -> Result<diesel::result::Error, Self> {
                match self {
                    Self::Db(e) => Ok(e),
                    refusal => Err(refusal),
                }
            }
        }
    };
}

/// How long a request waits for a database connection before it answers
/// 503.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// A pool that fails fast when the database is down: pages answer 503
/// within about a second instead of hanging.
pub fn pool(database_url: &str, size: u32) -> DbPool {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(CONNECTION_TIMEOUT)
        .test_on_check_out(false)
        .connection_customizer(Box::new(SessionSettings))
        .build_unchecked(ConnectionManager::new(database_url))
}

/// Settings of every pooled connection, as `SET name = value`.
///
/// `plan_cache_mode`: a prepared statement keeps one generic plan. Left to
/// itself, PostgreSQL plans a statement for each call's values whenever
/// that looks cheaper than the generic plan, and for a common value (the
/// busiest member of a 10M-entry log) it did on every call: 0.07 ms of
/// planning for a query that runs in 0.16 ms, and the same plan each time.
/// Every query the console repeats is scoped to one account and has an
/// index that matches its filter and order, so the generic plan is the
/// plan the values would get.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[("plan_cache_mode", "force_generic_plan")];

#[derive(Debug)]
struct SessionSettings;

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        let sql: String = SESSION_SETTINGS
            .iter()
            .map(|(name, value)| format!("SET {name} = {value};"))
            .collect();
        conn.batch_execute(&sql)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The pool behind a fair gate: at most as many blocking database tasks
/// run at once as the pool has connections, first come first served.
/// Without it, under load every request parked a blocking thread on the
/// pool, which hands a freed connection to whichever thread wakes first
/// rather than to the one that has waited longest.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    slots: Arc<tokio::sync::Semaphore>,
    /// Tasks waiting at the gate for their turn (for /metrics).
    waiting: Arc<AtomicUsize>,
}

/// How busy the pool is, as /metrics reports it.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// Connections the pool may open.
    pub max: u32,
    /// Connections checked out by a task.
    pub in_use: u32,
    /// Open connections nobody uses.
    pub idle: u32,
    /// Tasks waiting at the gate for a connection to come free.
    pub waiting: usize,
}

/// Counts a task as waiting at the gate until dropped (whether it got its
/// turn, timed out or was cancelled).
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Waiting {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

tokio::task_local! {
    /// The pooled connections the current request has taken so far (see
    /// `counting_checkouts`).
    static CHECKOUTS: Arc<AtomicUsize>;
}

/// Runs `work` (a request) counting the pooled connections it takes, and
/// gives back the count with its result: the access log reports it, and
/// a signed-in page takes one.
pub async fn counting_checkouts<T>(work: impl Future<Output = T>) -> (T, usize) {
    let count = Arc::new(AtomicUsize::new(0));
    let done = CHECKOUTS.scope(count.clone(), work).await;
    (done, count.load(Ordering::Relaxed))
}

/// Why `Database::block` did not run its work.
#[derive(Debug)]
pub enum Blocked {
    /// No connection came free within `CONNECTION_TIMEOUT`.
    Busy,
    /// The blocking task failed (it panicked).
    Failed(tokio::task::JoinError),
}

impl Database {
    pub fn new(pool: DbPool) -> Database {
        let slots = Arc::new(tokio::sync::Semaphore::new(pool.max_size() as usize));
        Database {
            pool,
            slots,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            max: self.pool.max_size(),
            in_use: state.connections - state.idle_connections,
            idle: state.idle_connections,
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on actix's blocking thread pool once a connection is
    /// free for it; `f` checks the connection out. Waiting for the slot
    /// and for the connection share one `CONNECTION_TIMEOUT`. `f` runs in
    /// the caller's tracing span, so what it logs carries the request id.
    pub async fn block<T, F>(&self, f: F) -> Result<T, Blocked>
    where
        F: FnOnce(Checkout) -> T + Send + 'static,
        T: Send + 'static,
    {
        let deadline = Instant::now() + CONNECTION_TIMEOUT;
        let waiting = Waiting::new(&self.waiting);
        let slot = tokio::time::timeout(CONNECTION_TIMEOUT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Blocked::Busy)?
            .expect("the gate is never closed");
        drop(waiting);
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let counter = CHECKOUTS.try_with(Arc::clone).ok();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _span = span.enter();
            f(Checkout {
                pool,
                deadline,
                counter,
            })
        })
        .await
        .map_err(Blocked::Failed)
    }
}

impl Database {
    /// Background work (the sweepers, the sealer, the mail sender): `f`
    /// with a pooled connection. As after a request's, a failure that lost
    /// the connection drops the pool's dead idle connections, so that no
    /// request after the server is back finds one.
    pub async fn background<T, F>(&self, f: F) -> Result<anyhow::Result<T>, Blocked>
    where
        F: FnOnce(&mut PgConnection) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let database = self.clone();
        self.block(move |checkout| {
            let mut conn = checkout.get()?;
            let done = f(&mut conn);
            if done.is_err() && connection_lost(&mut conn) {
                drop(conn);
                database.drop_dead_idle();
            }
            done
        })
        .await
    }

    /// After a lost connection (the server restarted or went away): pings
    /// every idle pooled connection, so the dead ones are dropped now (the
    /// pool discards a connection that reports itself broken) instead of
    /// each failing one later request after the server is back.
    pub fn drop_dead_idle(&self) {
        use diesel::r2d2::R2D2Connection;
        let mut held = Vec::new();
        while let Some(mut conn) = self.pool.try_get() {
            let _ = conn.ping();
            held.push(conn);
        }
    }
}

/// The right to take one connection from the pool before a deadline.
pub struct Checkout {
    pool: DbPool,
    deadline: Instant,
    /// The request's count of checkouts, when a request asked.
    counter: Option<Arc<AtomicUsize>>,
}

impl Checkout {
    pub fn get(self) -> Result<DbConn, diesel::r2d2::PoolError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let conn = self.pool.get_timeout(left.max(Duration::from_millis(1)))?;
        if let Some(counter) = &self.counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(conn)
    }
}

/// After a failed query: is the database gone (server down, connection
/// cut), rather than the query being wrong? Such failures answer 503.
pub fn connection_lost(conn: &mut PgConnection) -> bool {
    use diesel::r2d2::R2D2Connection;
    conn.is_broken() || conn.ping().is_err()
}

/// The versions of the migrations this console carries, oldest first, as
/// `__diesel_schema_migrations` records them ("20261127000001").
pub fn known_migrations() -> Vec<String> {
    use diesel::migration::MigrationSource;
    let mut versions: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .expect("the embedded migrations")
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    versions
}

/// Applies every pending migration.
pub fn migrate(conn: &mut PgConnection) -> anyhow::Result<()> {
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    Ok(())
}

/// Creates database `name` through a connection to the maintenance
/// database at `admin_url` unless it exists.
pub fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let mut conn = PgConnection::establish(admin_url)?;
    let exists = diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_results::<Found>(&mut conn)?;
    if exists.is_empty() {
        let create = format!("CREATE DATABASE {}", quote_ident(name));
        diesel::sql_query(create).execute(&mut conn)?;
    }
    Ok(())
}

/// Quotes an SQL identifier (database names cannot be bound parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
