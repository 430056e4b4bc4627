//! One PostgreSQL server per test run, and a fresh database per test.
//!
//! With DATABASE_URL set, that server is used; otherwise a throwaway local
//! cluster (the same code as the console's embedded default, fsync off) is
//! started in a temporary folder and stopped when the test binary exits.
//! Each test's database is a copy of a migrated template database.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use diesel::prelude::*;
use team_console::db::local_cluster::{ClusterOptions, LocalCluster};
use team_console::db::{self, quote_ident};

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
                    let cluster = LocalCluster::start(&dir, ClusterOptions { fsync: false })
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
        let create = format!("CREATE DATABASE {}", quote_ident(&template));
        diesel::sql_query(create)
            .execute(&mut conn)
            .expect("create template database");
        let mut tconn = PgConnection::establish(&make_url(&template)).expect("connect to template");
        db::migrate(&mut tconn).expect("migrate template database");
        Server { make_url, template }
    }

    pub fn url(&self, db: &str) -> String {
        (self.make_url)(db)
    }

    /// A fresh, migrated database for one test.
    pub fn create_database(&self) -> String {
        let name = format!("tc_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&self.url("postgres")).expect("connect");
        let create = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&self.template)
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
