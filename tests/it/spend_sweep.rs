//! Issue 16: what must hold when consoles and people act at once: GPU
//! quotas under concurrent starts, one sweep at a time over one database,
//! no double charge, and nothing half-done when a console dies mid-sweep.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use team_console::audit::{Actor, Change, Origin};
use team_console::ids::{AccountId, PodId, UserId};
use team_console::spend::sweep::SWEEP_LOCK;
use time::Duration;
use uuid::Uuid;

use crate::support::pods::T0;
use crate::support::{TestApp, test_settings};

/// A Dev's change in `team`, at `now`, as a handler would make it.
fn dev_change(team: Uuid, dev: Uuid, email: &str, now: time::OffsetDateTime) -> Change {
    Change {
        account_id: AccountId::from_uuid(team),
        actor: Actor::user(UserId::from_uuid(dev), email, "Dan Dev"),
        origin: Origin::default(),
        now,
    }
}

#[actix_web::test]
async fn twenty_concurrent_starts_never_exceed_a_quota() {
    // Arrange: a Dev quota of 4 RTX 4090s and 20 stopped 1-GPU Pods.
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    app.set_role_quota(&team.admin.browser, team.id, "dev", "rtx-4090", "4")
        .await;
    let pods: Vec<Uuid> = (0..20)
        .map(|i| app.insert_pod(team.id, &format!("p{i}")))
        .collect();

    // Act: 20 starts at once, each on its own connection and thread.
    let barrier = Arc::new(Barrier::new(pods.len()));
    let now = time::OffsetDateTime::now_utc();
    let threads: Vec<_> = pods
        .iter()
        .map(|pod| {
            let (url, barrier, pod) = (app.serving_url.clone(), barrier.clone(), *pod);
            let cx = dev_change(team.id, team.dev.user_id, &team.dev.email, now);
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                barrier.wait();
                team_console::pods::transitions::start(&mut conn, &cx, PodId::from_uuid(pod))
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    // Assert: exactly four started; the others were refused for the quota.
    let started = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(started, 4);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(
                refused,
                team_console::pods::PodsError::Blocked {
                    block: team_console::spend::Block::Quota { max_gpus: 4, .. },
                    ..
                }
            ),
            "{refused:?}"
        );
    }
    assert_eq!(app.running_pods(team.id).len(), 4);
    assert_eq!(app.entries_of("pod.started").len(), 4);
}

/// Arrange: `n` Pods of `team` running for 3 hours by the Dev, over a
/// $1 limit.
async fn pods_over_the_limit(app: &TestApp, team: &crate::support::Team, n: usize) -> Vec<Uuid> {
    app.set_balance(team.id, 1_000_000);
    app.set_member_limit(&team.admin.browser, team.id, team.dev.user_id, "1")
        .await;
    (0..n)
        .map(|_| app.insert_running_pod(team.id, team.dev.user_id, "l40s", 1, 99, T0))
        .collect()
}

#[actix_web::test]
async fn a_console_does_not_sweep_while_another_holds_the_sweep() {
    let (app, _clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let pods = pods_over_the_limit(&app, &team, 3).await;
    let later = T0 + Duration::hours(3);

    // Another console is mid-sweep: it holds the lock in its transaction.
    let mut other = PgConnection::establish(&app.serving_url).unwrap();
    other
        .transaction(|other| {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SWEEP_LOCK})"))
                .execute(other)?;
            let report = app.sweep(later);
            assert!(!report.swept, "a second console skips the round");
            assert!(report.stopped.is_empty());
            assert_eq!(app.running_pods(team.id).len(), 3);
            Ok::<_, diesel::result::Error>(())
        })
        .unwrap();

    // Once it is done, the next round sweeps.
    let report = app.sweep(later);
    assert!(report.swept);
    assert_eq!(report.stopped.len(), pods.len());
}

#[actix_web::test]
async fn two_consoles_sweeping_at_once_charge_each_pod_once() {
    let (app, _clock) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let pods = pods_over_the_limit(&app, &team, 10).await;
    let later = T0 + Duration::hours(3);

    // Two consoles, two connections, sweeping at the same moment, five rounds.
    let barrier = Arc::new(Barrier::new(2));
    let consoles: Vec<_> = (0..2)
        .map(|_| {
            let (url, barrier) = (app.serving_url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                (0..5)
                    .map(|_| {
                        barrier.wait();
                        team_console::spend::sweep(&mut conn, later).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let reports: Vec<_> = consoles
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();

    let stopped: usize = reports.iter().map(|r| r.stopped.len()).sum();
    assert_eq!(stopped, pods.len(), "each Pod stopped by exactly one sweep");
    for pod in &pods {
        assert_eq!(app.charges_of(*pod), [-297], "charged once");
    }
    assert_eq!(app.entries_of("pod.stopped").len(), pods.len());
    assert_eq!(app.entries_of("billing.usage_charged").len(), pods.len());
    assert_eq!(app.balance_of(team.id), 1_000_000 - 297 * pods.len() as i64);
}

#[actix_web::test]
async fn a_console_that_dies_mid_sweep_leaves_nothing_half_charged() {
    // Arrange: two teams whose Pods must stop. Someone holds a row the
    // sweep will write last (the second team's usage this month), so the
    // sweep raises its alerts, charges every run and moves the balances,
    // then waits there, mid-sweep.
    let (app, _clock) = TestApp::spawn_with_clock().await;
    let first = app.team().await;
    let second = app.team().await;
    let mut all = pods_over_the_limit(&app, &first, 2).await;
    let held = pods_over_the_limit(&app, &second, 2).await;
    all.extend(&held);
    let later = T0 + Duration::hours(3);
    {
        use team_console::db::schema::monthly_usage as u;
        diesel::insert_into(u::table)
            .values((
                u::month.eq(time::macros::date!(2026 - 11 - 01)),
                u::account_id.eq(second.id),
                u::user_id.eq(Some(second.dev.user_id)),
                u::pod_id.eq(held[0]),
                u::running_seconds.eq(1_i64),
                u::gpu_seconds.eq(1_i64),
                u::cost_cents.eq(1_i64),
            ))
            .execute(&mut app.conn())
            .unwrap();
    }
    let mut holder = PgConnection::establish(&app.db_url).unwrap();
    let mut watcher = app.conn();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query(format!(
        "SELECT id FROM monthly_usage WHERE pod_id = '{}' FOR UPDATE",
        held[0]
    ))
    .execute(&mut holder)
    .unwrap();

    // Act: a console sweeps; once it waits, mid-sweep, its connection dies.
    let url = app.serving_url.clone();
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let console = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result(&mut conn)
            .unwrap();
        pid_tx.send(pid.pid).unwrap();
        team_console::spend::sweep(&mut conn, later)
    });
    let pid = pid_rx.recv().unwrap();
    wait_until_blocked(&mut watcher, pid);
    // What the sweep wrote so far is in its transaction: no one sees it.
    assert_eq!(app.running_pods(first.id).len(), 2);
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut watcher)
        .unwrap();
    let died = console.join().unwrap();
    assert!(died.is_err(), "the sweep's connection was cut");
    diesel::sql_query("ROLLBACK").execute(&mut holder).unwrap();

    // Assert: nothing of the dead sweep remains; the next one does it all, once.
    for team in [&first, &second] {
        assert_eq!(app.running_pods(team.id).len(), 2);
        assert!(app.transactions(team.id).is_empty());
        assert_eq!(app.balance_of(team.id), 1_000_000);
    }
    assert!(app.entries_of("pod.stopped").is_empty());
    assert!(app.entries_of("billing.usage_charged").is_empty());
    assert!(app.entries_of("spend.alert_raised").is_empty());
    let report = app.sweep(later);
    assert_eq!(report.stopped.len(), 4);
    for pod in all {
        assert_eq!(app.charges_of(pod), [-297]);
    }
}

/// Waits (up to 20 s) until backend `pid` waits for a lock.
fn wait_until_blocked(conn: &mut PgConnection, pid: i32) {
    for _ in 0..2000 {
        let waiting = diesel::sql_query(format!(
            "SELECT 1 FROM pg_stat_activity WHERE pid = {pid} AND wait_event_type = 'Lock'"
        ))
        .execute(conn)
        .unwrap();
        if waiting == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the sweep never reached the held account");
}

#[actix_web::test]
async fn the_console_sweeps_on_its_own() {
    // Arrange: a console whose sweeper runs every 50 ms, by a manual clock.
    let server = crate::support::Server::get();
    let db_name = server.create_database();
    let mut settings = test_settings(server.serving_url(&db_name));
    let (clock, hand) = team_console::clock::Clock::manual(T0);
    settings.clock = clock;
    settings.spend_sweep_interval = Some(std::time::Duration::from_millis(50));
    let app = TestApp::spawn_with(settings, db_name).await;
    let team = app.team().await;
    let pods = pods_over_the_limit(&app, &team, 1).await;
    assert_eq!(app.running_pods(team.id), pods);

    // Act: three hours pass on the console's clock.
    hand.advance(Duration::hours(3));

    // Assert: within a few ticks the Pod is stopped, by the system.
    for _ in 0..400 {
        if app.running_pods(team.id).is_empty() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        app.running_pods(team.id).is_empty(),
        "the sweeper stopped it"
    );
    assert_eq!(app.charges_of(pods[0]), [-297]);
}
