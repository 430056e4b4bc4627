//! Issue 17, item 5: streaming audit entries to collectors, against a
//! collector started by the test (support/collector.rs). Entries arrive
//! in order, signed; 500s, timeouts and a restart of the console lose
//! nothing; one console delivers per destination at a time; private
//! addresses need the operator's setting; the page is the Admin's.

use std::time::Duration;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;
use team_console::audit::{Action, Origin};
use team_console::ids::AccountId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::collector::{Answer, Collector, Received};
use crate::support::{Browser, TestApp, assert_redirect_to, audit_actions, test_settings};

const SECRET: &str = "a shared secret of the collector";

fn streaming_page(team: Uuid) -> String {
    format!("/accounts/{team}/settings/audit-streaming")
}

/// An Admin adds a destination through the form, with `secret`.
async fn add(browser: &Browser, team: Uuid, url: &str, secret: &str) -> reqwest::Response {
    browser
        .post_form(&streaming_page(team), &[("url", url), ("secret", secret)])
        .await
}

/// Appends `n` entries to the account's log through the audit core (the
/// chain as the console writes it): renames "Team 1", "Team 2", …
fn write_entries(app: &TestApp, account: Uuid, n: usize) {
    let mut conn = app.conn();
    for i in 1..=n {
        conn.transaction(|conn| {
            team_console::audit::record(
                conn,
                Some(AccountId::from_uuid(account)),
                None,
                &Origin::default(),
                Action::AccountRenamed {
                    account: AccountId::from_uuid(account),
                    old_name: format!("Team {}", i - 1),
                    new_name: format!("Team {i}"),
                },
            )
        })
        .unwrap();
    }
}

/// The ids of the account's entries after `after`, in the order written.
fn entry_ids_after(app: &TestApp, account: Uuid, after: i64) -> Vec<i64> {
    use team_console::db::schema::audit_entries as a;
    a::table
        .filter(a::account_id.eq(account))
        .filter(a::id.gt(after))
        .order(a::id.asc())
        .select(a::id)
        .load(&mut app.conn())
        .unwrap()
}

#[derive(Debug, Queryable)]
struct Row {
    cursor: i64,
    failures: i32,
    last_error: Option<String>,
    next_attempt_at: OffsetDateTime,
}

fn destination(app: &TestApp, id: Uuid) -> Row {
    use team_console::db::schema::audit_stream_destinations as d;
    d::table
        .find(id)
        .select((d::cursor, d::failures, d::last_error, d::next_attempt_at))
        .first(&mut app.conn())
        .unwrap()
}

fn only_destination(app: &TestApp, team: Uuid) -> Uuid {
    use team_console::db::schema::audit_stream_destinations as d;
    d::table
        .filter(d::account_id.eq(team))
        .select(d::id)
        .first(&mut app.conn())
        .unwrap()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// At least once, in order: each request is either a repeat of an entry
/// already received (a redelivery from the cursor) or the next one; and
/// in the end every expected entry arrived.
#[track_caller]
fn assert_in_order_and_complete(received: &[Received], expected: &[i64]) {
    let ids: Vec<i64> = received.iter().map(Received::id).collect();
    let mut next = 0;
    for id in &ids {
        if next < expected.len() && *id == expected[next] {
            next += 1;
        } else {
            assert!(
                expected[..next].contains(id),
                "entry {id} arrived out of order: {ids:?}, expected {expected:?}"
            );
        }
    }
    assert_eq!(
        next,
        expected.len(),
        "missing entries: {ids:?}, expected {expected:?}"
    );
}

#[actix_web::test]
async fn entries_arrive_in_order_signed_from_the_destinations_own_entry_on() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    let before = entry_ids_after(&app, team.id, 0);

    let res = add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    assert_redirect_to(&res, &streaming_page(team.id));
    write_entries(&app, team.id, 4);
    let report = app
        .deliver_stream(&app.streamer(), OffsetDateTime::now_utc())
        .await;

    let expected = entry_ids_after(&app, team.id, *before.last().unwrap());
    assert_eq!(expected.len(), 5, "the added entry and four renames");
    assert_eq!(report.delivered, 5);
    let received = collector.received();
    let ids: Vec<i64> = received.iter().map(Received::id).collect();
    assert_eq!(ids, expected, "each entry once, in the order written");
    assert_eq!(received[0].json()["action"], "audit_stream.added");
    for (i, r) in received.iter().enumerate() {
        assert_eq!(
            r.header("x-teamconsole-signature"),
            Some(format!("sha256={}", hmac_hex(SECRET, &r.body)).as_str()),
            "the signature verifies with the shared secret"
        );
        assert_eq!(
            r.header("x-teamconsole-entry"),
            Some(r.id().to_string().as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        let entry = r.json();
        assert_eq!(entry["account_id"], team.id.to_string());
        // The chain's links come along: each entry names the one before.
        if i > 0 {
            assert_eq!(entry["prev_hash"], received[i - 1].json()["hash"]);
        }
    }
    assert_eq!(received[1].json()["details"]["new_name"], "Team 1");

    // Nothing more to send: a second pass sends nothing.
    let again = app
        .deliver_stream(&app.streamer(), OffsetDateTime::now_utc())
        .await;
    assert_eq!(again.delivered, 0);
    assert_eq!(collector.received().len(), 5);

    let (status, page) = team.admin.browser.get_page(&streaming_page(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&collector.url()), "{page}");
    assert!(page.contains("Up to date"), "{page}");
    assert!(
        page.contains(&format!("entry {} (account.renamed", expected[4])),
        "{page}"
    );
}

#[actix_web::test]
async fn a_collector_answering_500_gets_everything_in_order_once_it_recovers() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    let id = only_destination(&app, team.id);
    let start = destination(&app, id).cursor;
    write_entries(&app, team.id, 3);
    let expected = entry_ids_after(&app, team.id, start);
    let streamer = app.streamer();
    let t0 = OffsetDateTime::now_utc();

    collector.answer(Answer::Status(500));
    let first = app.deliver_stream(&streamer, t0).await;
    assert_eq!((first.delivered, first.failed), (0, 1));
    let row = destination(&app, id);
    assert_eq!(row.cursor, start, "a failure does not move the cursor");
    assert_eq!(row.failures, 1);
    assert!(
        row.last_error.as_deref().unwrap().contains("HTTP 500"),
        "{row:?}"
    );
    assert_eq!(row.next_attempt_at, trunc(t0 + time::Duration::seconds(2)));

    // Not due before its back-off ends.
    let early = app
        .deliver_stream(&streamer, t0 + time::Duration::seconds(1))
        .await;
    assert_eq!((early.delivered, early.failed), (0, 0));
    let second = app
        .deliver_stream(&streamer, t0 + time::Duration::seconds(2))
        .await;
    assert_eq!(second.failed, 1);
    let row = destination(&app, id);
    assert_eq!(row.failures, 2);
    assert_eq!(row.next_attempt_at, trunc(t0 + time::Duration::seconds(6)));

    let (_, page) = team.admin.browser.get_page(&streaming_page(team.id)).await;
    assert!(page.contains("Failing"), "{page}");
    assert!(page.contains("The collector answered HTTP 500"), "{page}");
    assert!(page.contains("2 attempts failed in a row"), "{page}");
    assert!(page.contains("4 entries, the oldest written"), "{page}");

    collector.answer(Answer::Ok {
        delay: Duration::ZERO,
    });
    let recovered = app
        .deliver_stream(&streamer, t0 + time::Duration::seconds(6))
        .await;
    assert_eq!(recovered.delivered, 4);
    let accepted: Vec<i64> = collector.accepted().iter().map(Received::id).collect();
    assert_eq!(accepted, expected, "all of them, in order");
    assert_in_order_and_complete(&collector.received(), &expected);
    let row = destination(&app, id);
    assert_eq!((row.cursor, row.failures), (*expected.last().unwrap(), 0));
    let (_, page) = team.admin.browser.get_page(&streaming_page(team.id)).await;
    assert!(page.contains("Up to date"), "{page}");
}

/// PostgreSQL keeps microseconds.
fn trunc(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

#[actix_web::test]
async fn a_collector_that_does_not_answer_is_timed_out_and_backed_off() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    let id = only_destination(&app, team.id);
    let start = destination(&app, id).cursor;
    write_entries(&app, team.id, 2);
    let expected = entry_ids_after(&app, team.id, start);
    let streamer = app.streamer();
    let t0 = OffsetDateTime::now_utc();

    collector.answer(Answer::Stall(Duration::from_secs(3)));
    let began = std::time::Instant::now();
    let stalled = app.deliver_stream(&streamer, t0).await;
    assert!(
        began.elapsed() < Duration::from_millis(2500),
        "the one-second timeout cut it short: {:?}",
        began.elapsed()
    );
    assert_eq!((stalled.delivered, stalled.failed), (0, 1));
    let row = destination(&app, id);
    assert_eq!(row.cursor, start);
    assert_eq!(row.failures, 1);
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("No answer within 1 s"),
        "{row:?}"
    );
    assert_eq!(row.next_attempt_at, trunc(t0 + time::Duration::seconds(2)));

    collector.answer(Answer::Ok {
        delay: Duration::ZERO,
    });
    let after = app
        .deliver_stream(&streamer, t0 + time::Duration::seconds(2))
        .await;
    assert_eq!(after.delivered, 3);
    let accepted: Vec<i64> = collector.accepted().iter().map(Received::id).collect();
    assert_eq!(accepted, expected);
}

#[actix_web::test]
async fn a_restart_of_the_console_mid_stream_loses_nothing() {
    let server = crate::support::Server::get();
    let db_name = server.create_database();
    let mut settings = test_settings(server.serving_url(&db_name));
    settings.audit_stream.interval = Some(Duration::from_millis(100));
    let first = TestApp::spawn_with(settings.clone(), db_name).await;
    let team = first.team().await;
    let collector = Collector::start();
    collector.answer(Answer::Ok {
        delay: Duration::from_millis(60),
    });
    add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    let id = only_destination(&first, team.id);
    let start = destination(&first, id).cursor;
    write_entries(&first, team.id, 40);
    let expected = entry_ids_after(&first, team.id, start);

    // The console delivers on its own; stop it part-way.
    wait_until(|| collector.received().len() >= 5).await;
    first.shut_down().await;
    // The entry in flight when it stopped arrives; then nothing more.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let at_stop = collector.received().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        collector.received().len(),
        at_stop,
        "the first console stopped"
    );
    assert!(at_stop < expected.len(), "stopped mid-stream ({at_stop})");

    // Another console on the same database takes over from the cursor.
    let second = TestApp::spawn_with(settings, String::new()).await;
    wait_until(|| {
        collector
            .accepted()
            .iter()
            .any(|r| r.id() == *expected.last().unwrap())
    })
    .await;
    second.shut_down().await;
    assert_in_order_and_complete(&collector.accepted(), &expected);
    assert_eq!(destination(&first, id).cursor, *expected.last().unwrap());
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn two_consoles_never_deliver_to_one_destination_at_once() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    collector.answer(Answer::Ok {
        delay: Duration::from_millis(30),
    });
    add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    let id = only_destination(&app, team.id);
    let start = destination(&app, id).cursor;
    write_entries(&app, team.id, 12);
    let expected = entry_ids_after(&app, team.id, start);
    let streamer = app.streamer();
    let now = OffsetDateTime::now_utc();

    let (a, b, c) = tokio::join!(
        app.deliver_stream(&streamer, now),
        app.deliver_stream(&streamer, now),
        app.deliver_stream(&streamer, now),
    );
    // Whatever is left after the three (one may have found the lock taken
    // and moved on), a last pass sends.
    let last = app.deliver_stream(&streamer, now).await;

    assert_eq!(
        a.delivered + b.delivered + c.delivered + last.delivered,
        expected.len(),
        "each entry delivered once"
    );
    assert_eq!(collector.most_in_flight(), 1, "one request at a time");
    let ids: Vec<i64> = collector.received().iter().map(Received::id).collect();
    assert_eq!(ids, expected, "in order, none twice");
}

#[actix_web::test]
async fn private_addresses_and_plain_http_are_refused_without_the_setting() {
    let server = crate::support::Server::get();
    let db_name = server.create_database();
    let mut settings = test_settings(server.serving_url(&db_name));
    settings.audit_stream.allow_private = false;
    let app = TestApp::spawn_with(settings, db_name).await;
    let team = app.team().await;
    let collector = Collector::start();

    for (url, message) in [
        (
            "https://127.0.0.1:8443/in".to_string(),
            "127.0.0.1 is a private, loopback or otherwise internal address",
        ),
        (
            "https://10.1.2.3/in".to_string(),
            "10.1.2.3 is a private, loopback or otherwise internal address",
        ),
        (
            "https://[::1]/in".to_string(),
            "[::1] is a private, loopback or otherwise internal address",
        ),
        (collector.url(), "Only https:// URLs are accepted"),
        (
            "https://user:pw@logs.example.com/in".to_string(),
            "Leave the user name and password out of the URL",
        ),
    ] {
        let res = add(&team.admin.browser, team.id, &url, SECRET).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{url}");
        let page = res.text().await.unwrap();
        assert!(page.contains(message), "{url}: {page}");
        let typed = url.replace('&', "&amp;");
        assert!(
            page.contains(&format!("value=\"{typed}\"")),
            "keeps what was typed: {page}"
        );
    }
    assert!(!audit_actions(&mut app.conn()).contains(&"audit_stream.added".to_string()));

    // A destination whose address became private since (DNS rebinding,
    // here arranged directly) is not delivered to either.
    let http = app.insert_stream_destination(team.id, team.admin.user_id, &collector.url(), SECRET);
    let https = app.insert_stream_destination(
        team.id,
        team.admin.user_id,
        &format!("https://127.0.0.1:{}/in", collector.port),
        SECRET,
    );
    write_entries(&app, team.id, 1);
    let strict = team_console::streaming::Streamer::new(&app.secret_key, false);
    let report = app.deliver_stream(&strict, OffsetDateTime::now_utc()).await;

    assert_eq!((report.delivered, report.failed), (0, 2));
    assert!(collector.received().is_empty(), "nothing reached 127.0.0.1");
    let error = |id| destination(&app, id).last_error.unwrap_or_default();
    assert!(
        error(http).contains("Only https:// URLs are accepted"),
        "{}",
        error(http)
    );
    assert!(
        error(https).contains("private, loopback"),
        "{}",
        error(https)
    );
}

#[actix_web::test]
async fn the_form_keeps_what_was_typed_and_says_what_is_wrong() {
    let app = TestApp::spawn().await;
    let team = app.team().await;

    let res = add(&team.admin.browser, team.id, "not a url", "short").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = res.text().await.unwrap();
    assert!(page.contains("This is not a URL"), "{page}");
    assert!(
        page.contains("Choose a secret of 16 to 200 characters"),
        "{page}"
    );
    assert!(page.contains("value=\"not a url\""), "{page}");
    assert!(page.contains("value=\"short\""), "{page}");
    let res = add(&team.admin.browser, team.id, "", SECRET).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("URL, starting with https://.")
    );
}

#[actix_web::test]
async fn a_secret_left_to_the_console_is_shown_once_and_signs() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();

    let res = add(&team.admin.browser, team.id, &collector.url(), "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = res.text().await.unwrap();
    let marker = "id=\"new-secret-value\" type=\"text\" readonly value=\"";
    let start = page.find(marker).expect("the secret shown") + marker.len();
    let secret = &page[start..start + page[start..].find('"').unwrap()];
    assert!(secret.len() >= 32, "{secret}");

    app.deliver_stream(&app.streamer(), OffsetDateTime::now_utc())
        .await;
    let received = collector.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header("x-teamconsole-signature").unwrap(),
        format!("sha256={}", hmac_hex(secret, &received[0].body))
    );
    let (_, again) = team.admin.browser.get_page(&streaming_page(team.id)).await;
    assert!(!again.contains(secret), "never shown again");
    let sealed: Vec<u8> = {
        use team_console::db::schema::audit_stream_destinations as d;
        d::table
            .select(d::secret_sealed)
            .first(&mut app.conn())
            .unwrap()
    };
    assert!(
        !String::from_utf8_lossy(&sealed).contains(secret),
        "sealed at rest"
    );
}

#[actix_web::test]
async fn a_team_streams_to_three_destinations_at_most() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    for n in 1..=3 {
        let res = add(
            &team.admin.browser,
            team.id,
            &format!("{}/{n}", collector.url()),
            SECRET,
        )
        .await;
        assert_redirect_to(&res, &streaming_page(team.id));
    }

    let fourth = format!("{}/4", collector.url());
    let res = add(&team.admin.browser, team.id, &fourth, SECRET).await;

    assert_eq!(res.status(), StatusCode::CONFLICT);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("An account streams to at most 3 destinations"),
        "{page}"
    );
    assert!(page.contains(&format!("value=\"{fourth}\"")), "{page}");
    let added = audit_actions(&mut app.conn())
        .iter()
        .filter(|a| *a == "audit_stream.added")
        .count();
    assert_eq!(added, 3);
}

#[actix_web::test]
async fn adding_and_removing_are_audited_and_removal_stops_delivery() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    let url = format!("{}?token=collector-token", collector.url());
    add(&team.admin.browser, team.id, &url, SECRET).await;
    let id = only_destination(&app, team.id);

    let res = team
        .admin
        .browser
        .post_form(&format!("{}/{id}/remove", streaming_page(team.id)), &[])
        .await;
    assert_redirect_to(&res, &streaming_page(team.id));
    write_entries(&app, team.id, 2);
    let report = app
        .deliver_stream(&app.streamer(), OffsetDateTime::now_utc())
        .await;

    assert_eq!(report.delivered, 0);
    assert!(collector.received().is_empty());
    let actions = audit_actions(&mut app.conn());
    assert!(actions.contains(&"audit_stream.added".to_string()));
    assert!(actions.contains(&"audit_stream.removed".to_string()));
    let (_, log) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", team.id))
        .await;
    let bare = collector.url();
    assert!(log.contains("started streaming the audit log to"), "{log}");
    assert!(log.contains(&bare), "{log}");
    assert!(log.contains("stopped streaming the audit log to"), "{log}");
    assert!(
        !log.contains("collector-token"),
        "the query is not recorded: {log}"
    );
}

#[actix_web::test]
async fn another_accounts_destination_is_not_found() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let other = app.signed_up_user("Olga Other").await;
    let other_team = app.convert_to_team(&other, "Other GPU").await;
    let collector = Collector::start();
    add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    let id = only_destination(&app, team.id);

    // Through the other team's own URL: not theirs, 404.
    let res = other
        .browser
        .post_form(&format!("{}/{id}/remove", streaming_page(other_team)), &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Through the first team's URL: not a member, 404.
    let res = other
        .browser
        .post_form(&format!("{}/{id}/remove", streaming_page(team.id)), &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (status, _) = other.browser.get_page(&streaming_page(team.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(only_destination(&app, team.id), id, "still there");
}

#[actix_web::test]
async fn only_admins_see_the_streaming_page() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    for user in [&team.basic, &team.billing, &team.dev] {
        let (status, _) = user.browser.get_page(&streaming_page(team.id)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let res = add(
            &user.browser,
            team.id,
            "https://logs.example.com/in",
            SECRET,
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let (status, page) = team.admin.browser.get_page(&streaming_page(team.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No destinations yet"), "{page}");
    let (_, settings) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/settings", team.id))
        .await;
    assert!(
        settings.contains(&streaming_page(team.id)),
        "linked from Settings"
    );
    let (_, log) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", team.id))
        .await;
    assert!(
        log.contains(&streaming_page(team.id)),
        "linked from Audit logs"
    );
}

#[actix_web::test]
async fn retry_now_cuts_a_failing_destinations_back_off_short() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let collector = Collector::start();
    add(&team.admin.browser, team.id, &collector.url(), SECRET).await;
    let id = only_destination(&app, team.id);
    let retry = format!("{}/{id}/retry", streaming_page(team.id));
    let streamer = app.streamer();
    collector.answer(Answer::Status(503));
    let t0 = OffsetDateTime::now_utc();
    for after in [0, 2, 6, 14] {
        app.deliver_stream(&streamer, t0 + time::Duration::seconds(after))
            .await;
    }
    assert_eq!(destination(&app, id).failures, 4);
    assert_eq!(
        destination(&app, id).next_attempt_at,
        trunc(t0 + time::Duration::seconds(30))
    );
    let (_, page) = team.admin.browser.get_page(&streaming_page(team.id)).await;
    assert!(
        page.contains(&retry),
        "a failing destination offers Retry now"
    );
    collector.answer(Answer::Ok {
        delay: Duration::ZERO,
    });

    let res = team.admin.browser.post_form(&retry, &[]).await;

    assert_redirect_to(&res, &streaming_page(team.id));
    assert!(destination(&app, id).next_attempt_at < t0 + time::Duration::seconds(30));
    let report = app
        .deliver_stream(&streamer, OffsetDateTime::now_utc())
        .await;
    assert_eq!(report.delivered, 2, "the added entry, then the retry's own");
    assert_eq!(destination(&app, id).failures, 0);
    let accepted = collector.accepted();
    assert_eq!(accepted[0].json()["action"], "audit_stream.added");
    assert_eq!(accepted[1].json()["action"], "audit_stream.retried");
    // Up to date again: nothing to retry.
    let res = team.admin.browser.post_form(&retry, &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This destination is not failing")
    );
}
