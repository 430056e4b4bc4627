//! The console looks after the PostgreSQL it runs itself (issue 23): it
//! restarts it after a crash without losing anything acknowledged, keeps
//! one console per data folder, and says which port is taken before it
//! starts anything.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::resilience::Console;
use crate::support::{Browser, PASSWORD, ScratchDir};

fn postmaster_pid(data_dir: &std::path::Path) -> i32 {
    std::fs::read_to_string(data_dir.join("postgres/pgdata/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn kill(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

/// The console's own database, as its superuser (the socket trusts root).
fn connect(data_dir: &std::path::Path) -> PgConnection {
    let run = data_dir.join("postgres/run");
    let host: String = form_urlencoded::byte_serialize(run.to_str().unwrap().as_bytes()).collect();
    PgConnection::establish(&format!(
        "postgres://postgres@/team_console?host={host}&port=5432"
    ))
    .unwrap()
}

/// The real binary run to its end, with what it printed.
fn run_to_end(data_dir: &std::path::Path, bind: &str) -> (std::process::ExitStatus, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_team-console"))
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", data_dir)
        .env("BIND_ADDR", bind)
        .env("SECRET_KEY", "a test secret key of at least 32 bytes")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

/// A sign-up in a fresh session: its form (which may already be a 503)
/// and its post.
async fn try_sign_up(address: &str, email: &str) -> StatusCode {
    let browser = Browser::new(address);
    let (status, _) = browser.get_page("/sign-up").await;
    if status != StatusCode::OK {
        return status;
    }
    browser
        .post_form(
            "/sign-up",
            &[
                ("email", email),
                ("display_name", "Stream"),
                ("password", PASSWORD),
            ],
        )
        .await
        .status()
}

#[actix_web::test]
async fn a_killed_postgres_is_started_again_and_nothing_acknowledged_is_lost() {
    let dir = ScratchDir::new("crash");
    let console = Console::start(&dir, &[("ARGON2_M_COST", "256"), ("ARGON2_T_COST", "1")]);
    let browser = Browser::new(&console.address);
    browser.csrf().await;
    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    let mut killed_at = None;
    let mut back_at = None;
    let started = Instant::now();
    for i in 0.. {
        if i == 20 {
            kill(postmaster_pid(&dir));
            killed_at = Some(Instant::now());
        }
        let email = format!("stream{i}@example.com");
        match try_sign_up(&console.address, &email).await {
            StatusCode::SEE_OTHER => {
                acknowledged.push(email);
                if killed_at.is_some() && back_at.is_none() {
                    back_at = Some(Instant::now());
                }
            }
            StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
            other => panic!("sign-up {i} answered {other}"),
        }
        if back_at.is_some_and(|at| at.elapsed() > Duration::from_secs(1)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never came back"
        );
    }

    let gap = back_at.unwrap() - killed_at.unwrap();
    assert!(gap < Duration::from_secs(10), "served again after {gap:?}");
    let res = browser.get("/readyz").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "no dead pooled connection is left"
    );
    // Every acknowledged sign-up is there, with its audit entry.
    let mut conn = connect(&dir);
    for email in &acknowledged {
        let audited: i64 = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM users JOIN audit_entries a \
               ON a.actor_id = users.id AND a.action = 'user.signed_up' \
             WHERE users.email = '{email}'"
        ))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
        assert_eq!(audited, 1, "{email} and its entry survived");
    }
    assert!(
        acknowledged.len() > 20,
        "the stream went on after the crash"
    );
    // The running server logs to hourly files, overwritten a day later.
    let logs: Vec<String> = std::fs::read_dir(dir.join("postgres/log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter()
            .all(|f| f.starts_with("postgresql-") && f.len() == 17),
        "{logs:?}"
    );
    assert!(!logs.is_empty());
    eprintln!("crash gap {gap:?}, {unavailable} answers were 503");
    drop(console);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[actix_web::test]
async fn a_cluster_that_cannot_start_is_retried_slowly_and_readyz_says_why() {
    let dir = ScratchDir::new("nostart");
    let console = Console::start(&dir, &[]);
    // Break the cluster's configuration, then crash it.
    let conf = dir.join("postgres/pgdata/postgresql.conf");
    let original = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{original}\nno_such_setting = on\n")).unwrap();
    kill(postmaster_pid(&dir));
    let browser = Browser::new(&console.address);

    let started = Instant::now();
    let body = loop {
        let res = browser.get("/readyz").await;
        let status = res.status();
        let body = res.text().await.unwrap();
        if body.contains("failed to start 3 times") {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{status}: {body}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(body.contains("log says why"), "{body}");
    // Backing off, it stays idle: under a tenth of a core over 3 s.
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", console.pid())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(3));
    let ticks = cpu() - before;
    assert!(ticks < 30, "{ticks} clock ticks of CPU in 3 s");

    // Mended, it comes back on the next try.
    std::fs::write(&conf, original).unwrap();
    let started = Instant::now();
    while browser.get("/readyz").await.status() != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never came back"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    drop(console);
}

#[actix_web::test]
async fn a_second_console_on_a_data_folder_in_use_refuses_and_the_first_keeps_serving() {
    let dir = ScratchDir::new("twice");
    let first = Console::start(&dir, &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let (status, said) = run_to_end(&dir, &format!("127.0.0.1:{port}"));

    assert!(!status.success());
    assert!(said.contains("in use by another Team Console"), "{said}");
    assert!(said.contains(&format!("pid {}", first.pid())), "{said}");
    let res = Browser::new(&first.address).get("/readyz").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the first console still serves"
    );

    // The operator's audit command uses the running console's cluster.
    let verify = Command::new(env!("CARGO_BIN_EXE_team-console"))
        .args(["audit", "verify"])
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", &*dir)
        .env("SECRET_KEY", "a test secret key of at least 32 bytes")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    assert!(String::from_utf8_lossy(&verify.stdout).contains("intact"));
    let res = Browser::new(&first.address).get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK, "and still serves after it");
    drop(first);
}

#[actix_web::test]
async fn a_taken_port_is_named_before_anything_starts() {
    let dir = ScratchDir::new("port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();

    let (status, said) = run_to_end(&dir, &address);

    assert!(!status.success());
    assert!(
        said.contains(&format!("cannot listen on {address}")),
        "{said}"
    );
    assert!(said.contains("BIND_ADDR"), "{said}");
    assert!(!dir.join("postgres").exists(), "no cluster was made");
}
