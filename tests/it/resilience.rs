//! Several console processes on one database, database outages, graceful
//! shutdown and restarts after a kill.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::db::local_cluster::{ClusterOptions, LocalCluster};
use team_console::db::schema::{audit_entries, invites};

use crate::support::{Browser, PASSWORD, Server, TestApp, assert_redirect_to, test_settings};

#[actix_web::test]
async fn two_nodes_share_sessions_throttles_and_invites() {
    let server = Server::get();
    let db = server.create_database();
    let mut settings = test_settings(server.serving_url(&db));
    // Behind one load balancer both nodes have the same public URL and key.
    settings.public_url = Some("http://console.example".into());
    let node_a = TestApp::spawn_with(settings.clone(), String::new()).await;
    let node_b = TestApp::spawn_with(settings, db).await;

    // A session started on A works on B.
    let alice = node_a.signed_up_user("Alice").await;
    let cookie = alice.browser.cookie_header().unwrap();
    let res = reqwest::Client::new()
        .get(format!(
            "{}/accounts/{}",
            node_b.address, alice.personal_account_id
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Sign-in throttles are shared: five failures on A lock the email on B.
    let attacker_a = node_a.browser();
    for _ in 0..5 {
        attacker_a
            .sign_in(&alice.email, "wrong password here")
            .await;
    }
    let res = node_b.browser().sign_in(&alice.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // An invite created on A is accepted on B.
    let team = node_a.convert_to_team(&alice, "Acme GPU").await;
    let link = node_a.create_invite(&alice.browser, team, "dev", "").await;
    let path = link
        .strip_prefix("http://console.example")
        .unwrap()
        .to_string();
    let bob = node_b.signed_up_user("Bob").await;
    assert_redirect_to(&bob.browser.get(&path).await, "/invite");
    bob.browser.get_page("/invite").await;
    let res = bob.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{team}"));
    assert_eq!(node_a.role_of(team, bob.user_id).as_deref(), Some("dev"));
}

/// Stops the database in the middle of a stream of invite creations: every
/// acknowledged one has its row and its audit entry, and every entry its
/// row. Uses a cluster of its own.
#[actix_web::test]
async fn no_action_is_acknowledged_without_its_audit_entry() {
    let dir = crate::support::ScratchDir::new("outage");
    // Durable commits: an immediate stop is a crash, and with
    // synchronous_commit off a crash may lose acknowledged transactions.
    let mut cluster = LocalCluster::start(
        &dir,
        ClusterOptions {
            fsync: true,
            rotate_logs: false,
        },
    )
    .unwrap();
    let urls = crate::support::database::local_database(&cluster);
    let app = TestApp::spawn_with(test_settings(urls.serving), String::new()).await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    admin.browser.csrf().await;

    let mut acknowledged = Vec::new();
    let mut outage = None;
    for i in 0..40 {
        if i == 15 {
            cluster.stop_immediate().unwrap();
            outage = Some(Instant::now());
        }
        if i == 20 {
            cluster.restart().unwrap();
        }
        let email = format!("stream{i}@example.com");
        let started = Instant::now();
        let res = admin
            .browser
            .post_form(
                &format!("/accounts/{team}/invites"),
                &[
                    ("role", "basic"),
                    ("email", &email),
                    ("lifetime_hours", "24"),
                ],
            )
            .await;
        match res.status() {
            StatusCode::SEE_OTHER => acknowledged.push(email),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    started.elapsed() < Duration::from_secs(3),
                    "503 within about a second"
                );
            }
            other => panic!("request {i} got {other}"),
        }
    }
    assert!(outage.is_some());
    assert!(
        acknowledged.len() >= 30,
        "the console recovered by itself: {}",
        acknowledged.len()
    );
    assert!(acknowledged.len() < 60, "the outage was noticed");

    let mut conn = PgConnection::establish(&cluster.database_url("team_console")).unwrap();
    let rows: Vec<(uuid::Uuid, Option<String>)> = invites::table
        .select((invites::id, invites::email))
        .load(&mut conn)
        .unwrap();
    let entries: Vec<(Option<String>, serde_json::Value)> = audit_entries::table
        .filter(audit_entries::action.eq("invite.created"))
        .select((audit_entries::resource_id, audit_entries::details))
        .load(&mut conn)
        .unwrap();
    for email in &acknowledged {
        assert!(
            rows.iter()
                .any(|(_, e)| e.as_deref() == Some(email.as_str())),
            "{email} acknowledged without its invite"
        );
        assert!(
            entries.iter().any(|(_, d)| d["email"] == *email),
            "{email} acknowledged without its audit entry"
        );
    }
    assert_eq!(
        rows.len(),
        entries.len(),
        "every entry has its change and every change its entry"
    );
    for (id, _) in &rows {
        assert!(
            entries
                .iter()
                .any(|(rid, _)| rid.as_deref() == Some(id.to_string().as_str()))
        );
    }
    drop(app);
    drop(cluster);
}

/// The real binary, on its own data folder (embedded PostgreSQL).
pub(crate) struct Console {
    child: Child,
    pub(crate) address: String,
}

impl Console {
    pub(crate) fn start(data_dir: &std::path::Path, extra_env: &[(&str, &str)]) -> Console {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_team-console"));
        command
            .env_remove("DATABASE_URL")
            .env("DATA_DIR", data_dir)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("SECRET_KEY", "a test secret key of at least 32 bytes")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start the console");
        let console = Console {
            child,
            address: format!("http://127.0.0.1:{port}"),
        };
        console.wait_ready();
        console
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let ready = std::net::TcpStream::connect(self.address.trim_start_matches("http://"))
                .map(|mut s| {
                    use std::io::{Read, Write};
                    let _ = s
                        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    out.starts_with("HTTP/1.1 200")
                })
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "console did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    pub(crate) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "console did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A test that fails with the console still running stops it (and so its
/// PostgreSQL) instead of leaving both behind.
impl Drop for Console {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn postgres_running(data_dir: &std::path::Path) -> bool {
    data_dir.join("postgres/pgdata/postmaster.pid").exists()
}

#[actix_web::test]
async fn sigterm_finishes_in_flight_requests_then_stops_postgres_and_sigkill_restarts_cleanly() {
    let data_dir = crate::support::ScratchDir::new("shutdown");
    // Slow hashing makes a sign-up take long enough to be in flight.
    let mut console = Console::start(&data_dir, &[("ARGON2_T_COST", "60")]);
    assert!(postgres_running(&data_dir));
    let browser = Browser::new(&console.address);
    browser.csrf().await;

    let sign_up = browser.post_form(
        "/sign-up",
        &[
            ("email", "inflight@example.com"),
            ("display_name", "In Flight"),
            ("password", PASSWORD),
        ],
    );
    let terminate = async {
        actix_web::rt::time::sleep(Duration::from_millis(150)).await;
        console.signal(nix::sys::signal::Signal::SIGTERM);
    };
    let (res, ()) = futures_util::future::join(sign_up, terminate).await;

    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the in-flight sign-up finished"
    );
    assert!(console.wait_exit().success());
    assert!(
        !postgres_running(&data_dir),
        "the embedded PostgreSQL was stopped"
    );

    // Killed outright, the console leaves PostgreSQL behind; the next start copes.
    let mut console = Console::start(&data_dir, &[]);
    console.signal(nix::sys::signal::Signal::SIGKILL);
    console.wait_exit();
    assert!(
        postgres_running(&data_dir),
        "an orphaned PostgreSQL is still running"
    );
    let mut console = Console::start(&data_dir, &[]);
    let res = Browser::new(&console.address)
        .sign_in("inflight@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the data survived");
    console.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(console.wait_exit().success());
    assert!(!postgres_running(&data_dir));
}
