//! One PostgreSQL server per test run, and a fresh database per test.
//!
//! With DATABASE_URL set, that server is used (as a superuser: the harness
//! creates roles); otherwise a throwaway local cluster (the same code as the
//! console's embedded default, fsync off) is started in a temporary folder
//! and stopped when the test binary exits. Each test's database is a copy
//! of a template database migrated as the console migrates its own: as an
//! owner role, then granting the serving role its privileges. Apps serve
//! through that serving role, so the whole suite runs with its privileges;
//! the harness keeps a superuser connection to create databases and to
//! arrange and inspect rows.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use diesel::prelude::*;
use team_console::db::local_cluster::{ClusterOptions, LocalCluster};
use team_console::db::roles::{self, DatabaseUrls};
use team_console::db::{self, quote_ident};

/// Owns the template and every test database, and migrates them.
pub const OWNER_ROLE: &str = "tc_test_owner";
/// What every app under test serves through. Both names are the tests'
/// own, so a DATABASE_URL server's console roles are left alone.
pub const SERVING_ROLE: &str = "tc_test_app";
/// For a DATABASE_URL server that asks for passwords (the local cluster
/// trusts its socket); tests only.
const ROLE_PASSWORD: &str = "tc_test_role_password";

pub struct Server {
    /// URL of a given database on this server.
    make_url: Box<dyn Fn(&str) -> String + Send + Sync>,
    pub template: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static LOCAL: Mutex<Option<(LocalCluster, PathBuf)>> = Mutex::new(None);

impl Server {
    pub fn get() -> &'static Server {
        SERVER.get_or_init(Server::start)
    }

    fn start() -> Server {
        let make_url: Box<dyn Fn(&str) -> String + Send + Sync> =
            match std::env::var("DATABASE_URL") {
                Ok(url) => Box::new(move |db: &str| replace_database(&url, db)),
                Err(_) => {
                    let dir = std::env::temp_dir().join(format!("tc-test-{}", std::process::id()));
                    let cluster = LocalCluster::start(&dir, ClusterOptions::throwaway())
                        .unwrap_or_else(|e| {
                            panic!("cannot start the test PostgreSQL cluster: {e}")
                        });
                    let base = cluster.database_url("DBNAME");
                    *LOCAL.lock().unwrap() = Some((cluster, dir));
                    register_exit_hook();
                    Box::new(move |db: &str| base.replace("/DBNAME?", &format!("/{db}?")))
                }
            };
        let template = format!("tc_template_{}", std::process::id());
        let admin = make_url("postgres");
        let mut conn = PgConnection::establish(&admin).expect("connect to the test server");
        for role in [OWNER_ROLE, SERVING_ROLE] {
            roles::ensure_login_role(&mut conn, role, Some(ROLE_PASSWORD))
                .unwrap_or_else(|e| panic!("create role {role}: {e:#}"));
        }
        let create = format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(&template),
            quote_ident(OWNER_ROLE)
        );
        diesel::sql_query(create)
            .execute(&mut conn)
            .expect("create template database");
        let server = Server { make_url, template };
        migrate(&server.urls(&server.template));
        server
    }

    /// A superuser URL of database `db`: create databases, arrange and inspect rows.
    pub fn url(&self, db: &str) -> String {
        (self.make_url)(db)
    }

    /// The URLs the console would migrate and serve database `db` with.
    pub fn urls(&self, db: &str) -> DatabaseUrls {
        let url = self.url(db);
        DatabaseUrls {
            migration: with_user(&url, OWNER_ROLE, ROLE_PASSWORD),
            serving: with_user(&url, SERVING_ROLE, ROLE_PASSWORD),
        }
    }

    /// The URL an app under test serves database `db` with.
    pub fn serving_url(&self, db: &str) -> String {
        self.urls(db).serving
    }

    /// A fresh, migrated database for one test.
    pub fn create_database(&self) -> String {
        let name = format!("tc_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&self.url("postgres")).expect("connect");
        let create = format!(
            "CREATE DATABASE {} TEMPLATE {} OWNER {}",
            quote_ident(&name),
            quote_ident(&self.template),
            quote_ident(OWNER_ROLE)
        );
        diesel::sql_query(create)
            .execute(&mut conn)
            .expect("create test database");
        name
    }

    pub fn drop_database(&self, name: &str) {
        if let Ok(mut conn) = PgConnection::establish(&self.url("postgres")) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
            let _ = diesel::sql_query(drop).execute(&mut conn);
        }
    }
}

/// Migrates as the console does: as the owner, then grants the serving role.
pub fn migrate(urls: &DatabaseUrls) {
    let mut conn = PgConnection::establish(&urls.migration).expect("connect as the owner role");
    db::migrate(&mut conn).expect("migrate");
    roles::grant_to_serving_role(&mut conn, &urls.serving).expect("grant the serving role");
}

/// A test's own cluster, set up as the console sets up its local one
/// (roles, database `team_console`) and migrated.
pub fn local_database(cluster: &LocalCluster) -> DatabaseUrls {
    let urls = roles::local_database(cluster, "team_console").expect("prepare the database");
    migrate(&urls);
    urls
}

/// Puts `user:password@` in a postgres:// URL in place of its user.
fn with_user(url: &str, user: &str, password: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(i) => &rest[i + 1..],
        None => rest,
    };
    format!("{}{user}:{password}@{host}", &url[..scheme_end])
}

/// Swaps the database name in a postgres:// URL.
fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    format!("{host_part}/{db}{query}")
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Stops the throwaway cluster when the test binary exits (libtest returns
/// from main, which runs C `atexit` handlers).
fn register_exit_hook() {
    extern "C" fn stop_cluster() {
        if let Some((mut cluster, dir)) = LOCAL.lock().ok().and_then(|mut l| l.take()) {
            let _ = cluster.stop_immediate();
            drop(cluster);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // SAFETY: registering a plain extern "C" function with no arguments.
    unsafe {
        atexit(stop_cluster);
    }
}
