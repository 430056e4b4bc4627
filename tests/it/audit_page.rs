use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::db::schema::audit_entries as a;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::support::{TestApp, TestUser};

/// Arrange: one audit entry, as the app would have written it.
fn seed(
    app: &TestApp,
    account: Uuid,
    at: OffsetDateTime,
    actor: &TestUser,
    action: &str,
    kind: &str,
    id: &str,
) {
    diesel::insert_into(a::table)
        .values((
            a::occurred_at.eq(at),
            a::account_id.eq(account),
            a::actor_id.eq(actor.user_id),
            a::actor_email.eq(&actor.email),
            a::action.eq(action),
            a::resource_type.eq(kind),
            a::resource_id.eq(id),
            a::ip.eq("10.0.0.1"),
            a::details.eq(serde_json::json!({ "note": id })),
        ))
        .execute(&mut app.conn())
        .unwrap();
}

/// The seeded resource ids shown on a page, in order.
fn ids(body: &str) -> Vec<String> {
    body.split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .filter(|s| s.starts_with("r-"))
        .map(str::to_owned)
        .collect()
}

/// An href of the page at `page` as the browser follows it: askama
/// escapes `&`, and the page's own links are query-only ("?cursor=…").
fn follow(page: &str, href: &str) -> String {
    let href = href.replace("&#38;", "&").replace("&amp;", "&");
    match href.strip_prefix('?') {
        Some(query) => format!("{}?{query}", page.split('?').next().unwrap_or(page)),
        None => href,
    }
}

struct Log {
    app: TestApp,
    team: Uuid,
    admin: TestUser,
    dev: TestUser,
}

/// A team whose log holds, besides its own creation, eight known entries
/// over three UTC days.
async fn log() -> Log {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let dev = app.signed_up_user("Dan").await;
    app.add_member(team, dev.user_id, team_console::authz::Role::Dev);
    let d1 = datetime!(2026-11-01 23:59:59 UTC);
    let d2 = datetime!(2026-11-02 00:00:00 UTC);
    let d3 = datetime!(2026-11-03 12:00:00 UTC);
    seed(&app, team, d1, &dev, "pod.created", "pod", "r-1");
    seed(&app, team, d2, &dev, "pod.started", "pod", "r-1");
    seed(&app, team, d2, &dev, "pod.stopped", "pod", "r-2");
    seed(
        &app,
        team,
        d2,
        &admin,
        "billing.funds_added",
        "billing",
        "r-3",
    );
    seed(
        &app,
        team,
        d3,
        &admin,
        "member.role_changed",
        "member",
        "r-4",
    );
    seed(&app, team, d3, &dev, "pod.terminated", "pod", "r-2");
    seed(&app, team, d3, &admin, "invite.created", "invite", "r-5");
    seed(&app, team, d3, &admin, "pod.created", "pod", "r-6");
    Log {
        app,
        team,
        admin,
        dev,
    }
}

impl Log {
    async fn ids(&self, query: &str) -> Vec<String> {
        let (status, body) = self
            .admin
            .browser
            .get_page(&format!("/accounts/{}/audit?{query}", self.team))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}");
        ids(&body)
    }
}

#[actix_web::test]
async fn each_filter_alone_and_combined() {
    let log = log().await;
    let dev = log.dev.user_id;
    let admin = log.admin.user_id;

    let all = log.ids("").await;
    assert_eq!(all.len(), 8, "newest first, every seeded entry: {all:?}");
    assert_eq!(
        &all[4..],
        ["r-3", "r-2", "r-1", "r-1"],
        "same-time entries by id desc, then older"
    );

    assert_eq!(log.ids(&format!("user={dev}")).await.len(), 4);
    assert_eq!(log.ids(&format!("user={admin}")).await.len(), 4);
    assert_eq!(log.ids("resource=pod").await.len(), 5);
    assert_eq!(
        log.ids("resource=pod&resource_id=r-2").await,
        ["r-2", "r-2"]
    );
    assert_eq!(log.ids("resource_id=r-1").await, ["r-1", "r-1"]);
    assert_eq!(log.ids("action=pod.created").await, ["r-6", "r-1"]);
    // "What did this member do to Pods last week."
    assert_eq!(
        log.ids(&format!(
            "user={dev}&resource=pod&from=2026-11-02&to=2026-11-03"
        ))
        .await,
        ["r-2", "r-2", "r-1"]
    );
    assert_eq!(
        log.ids(&format!("user={admin}&action=pod.created&resource=pod"))
            .await,
        ["r-6"]
    );
    assert!(log.ids("action=account.renamed").await.is_empty());
}

#[actix_web::test]
async fn dates_are_inclusive_utc_days() {
    let log = log().await;
    assert_eq!(
        log.ids("from=2026-11-01&to=2026-11-01").await,
        ["r-1"],
        "23:59:59 is still the 1st"
    );
    assert_eq!(
        log.ids("from=2026-11-02&to=2026-11-02").await.len(),
        3,
        "midnight belongs to the 2nd"
    );
    assert_eq!(log.ids("from=2026-11-03").await.len(), 4);
    assert_eq!(log.ids("to=2026-11-02").await.len(), 4);
}

#[actix_web::test]
async fn bad_filter_input_is_a_400_with_a_message() {
    let log = log().await;
    for (query, message) in [
        ("action=pod.exploded", "Unknown action"),
        ("resource=spaceship", "Unknown resource type"),
        ("from=2026-11-03&to=2026-11-01", "before the start date"),
        ("from=yesterday", "Enter a whole date (day, month and year)"),
        ("to=2026-13-45", "Enter a whole date (day, month and year)"),
        ("user=not-a-uuid", "Choose a user"),
        ("cursor=garbage", "page link is damaged"),
        ("cursor=1_x", "page link is damaged"),
    ] {
        let res = log
            .admin
            .browser
            .get(&format!("/accounts/{}/audit?{query}", log.team))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = res.text().await.unwrap();
        assert!(body.contains(message), "{query}: {message}");
        assert!(body.contains("Apply filters"), "the form is shown again");
        assert!(ids(&body).is_empty(), "no results with a bad filter");
    }
    let res = log
        .admin
        .browser
        .get(&format!("/accounts/{}/audit.csv?action=nope", log.team))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn another_accounts_entries_never_show_even_by_their_ids() {
    let log = log().await;
    let other = log.app.signed_up_user("Other").await;
    let other_team = log.app.convert_to_team(&other, "Other team").await;
    seed(
        &log.app,
        other_team,
        datetime!(2026-11-02 10:00 UTC),
        &other,
        "pod.created",
        "pod",
        "r-other",
    );

    assert!(!log.ids("").await.contains(&"r-other".to_string()));
    assert!(log.ids("resource_id=r-other").await.is_empty());
    assert!(log.ids(&format!("user={}", other.user_id)).await.is_empty());
    // And the other team's log is not reachable at all.
    let res = log
        .admin
        .browser
        .get(&format!("/accounts/{other_team}/audit"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn paging_across_equal_timestamps_loses_and_repeats_nothing() {
    let log = log().await;
    let same = datetime!(2026-10-01 08:00 UTC);
    for i in 0..120 {
        seed(
            &log.app,
            log.team,
            same,
            &log.dev,
            "pod.started",
            "pod",
            &format!("r-p{i:03}"),
        );
    }
    let base = format!("/accounts/{}/audit?action=pod.started", log.team);

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut next = Some(base.clone());
    while let Some(url) = next {
        let (status, body) = log.admin.browser.get_page(&url).await;
        assert_eq!(status, StatusCode::OK);
        let page = ids(&body);
        assert!(page.len() <= 50);
        assert!(pages.len() < 10, "paging does not end");
        seen.extend(page.clone());
        pages.push(url.clone());
        next = body
            .split("<a href=\"")
            .filter_map(|s| s.split_once("\" rel=\"next\""))
            .map(|(href, _)| follow(&url, href))
            .next();
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(seen.len(), 121, "120 same-time entries plus r-1's start");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 121, "nothing repeated");

    // Back from the last page with Newer: the previous page again.
    let (_, last) = log.admin.browser.get_page(&pages[2]).await;
    let newer = last
        .split("<a href=\"")
        .filter_map(|s| s.split_once("\" rel=\"prev\""))
        .map(|(href, _)| follow(&pages[2], href))
        .next()
        .expect("a Newer link");
    let (_, back) = log.admin.browser.get_page(&newer).await;
    let (_, second) = log.admin.browser.get_page(&pages[1]).await;
    assert_eq!(ids(&back), ids(&second));
}

#[actix_web::test]
async fn csv_export_has_the_pages_rows_quoted_and_defused() {
    let log = log().await;
    seed(
        &log.app,
        log.team,
        datetime!(2026-11-04 09:00 UTC),
        &log.admin,
        "pod.created",
        "pod",
        "=HYPERLINK(\"x\")",
    );
    seed(
        &log.app,
        log.team,
        datetime!(2026-11-04 09:01 UTC),
        &log.admin,
        "pod.created",
        "pod",
        "r-7, \"quoted\"",
    );

    let res = log
        .admin
        .browser
        .get(&format!(
            "/accounts/{}/audit.csv?action=pod.created",
            log.team
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("occurred_at_utc,user_id,user_email,action"));
    assert_eq!(
        lines.len(),
        1 + 4,
        "header and the four pod.created entries"
    );
    assert!(
        body.contains("\"'=HYPERLINK(\"\"x\"\")\""),
        "formula defused and quoted: {body}"
    );
    assert!(
        body.contains("\"r-7, \"\"quoted\"\"\""),
        "commas and quotes quoted"
    );

    // The same rows in the same order as the page (compared by resource id).
    let simple = |id: &String| id.len() <= 4 && id.starts_with("r-");
    let shown: Vec<String> = log
        .ids("action=pod.created")
        .await
        .into_iter()
        .filter(simple)
        .collect();
    let exported: Vec<String> = csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap()[5].to_string())
        .filter(simple)
        .collect();
    assert_eq!(exported, shown);
    assert_eq!(exported, ["r-6", "r-1"]);
}

#[actix_web::test]
async fn the_csv_export_streams_every_matching_row() {
    let log = log().await;
    let mut conn = log.app.conn();
    diesel::sql_query(format!(
        "INSERT INTO audit_entries (account_id, actor_id, actor_email, action, resource_type, resource_id, details)
         SELECT '{}', '{}', 'dan@example.com', 'pod.started', 'pod', 'bulk-' || g, '{{}}'
         FROM generate_series(1, 2500) g",
        log.team, log.dev.user_id
    ))
    .execute(&mut conn)
    .unwrap();
    let res = log
        .admin
        .browser
        .get(&format!(
            "/accounts/{}/audit.csv?action=pod.started",
            log.team
        ))
        .await;
    let body = res.text().await.unwrap();
    assert_eq!(
        body.lines().count(),
        1 + 2500 + 1,
        "header, bulk rows and the seeded start"
    );
}

#[actix_web::test]
async fn cells_link_to_their_filter_and_former_members_stay_selectable() {
    let log = log().await;
    log.dev
        .browser
        .post_form(&format!("/accounts/{}/leave", log.team), &[])
        .await;

    let (_, body) = log
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", log.team))
        .await;
    assert!(
        body.contains(&format!("<option value=\"{}\"", log.dev.user_id)),
        "a former member is in the user select"
    );
    assert!(
        body.contains(&format!("?user={}", log.dev.user_id)),
        "a user cell adds them to the filter"
    );
    assert!(body.contains("?action=pod.created"));
    assert!(body.contains("Clear filters"));
    assert!(body.contains("Times are in UTC"));
}

#[actix_web::test]
async fn the_user_select_lists_the_people_of_this_accounts_log_only() {
    let log = log().await;
    // Active elsewhere: her sign-up is in her own account's log.
    let outsider = log.app.signed_up_user("Olga").await;
    // A member who has done nothing yet.
    let quiet = log.app.signed_up_user("Quentin").await;
    log.app
        .add_member(log.team, quiet.user_id, team_console::authz::Role::Basic);

    let (_, body) = log
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", log.team))
        .await;
    let options: Vec<&str> = body
        .split("<option value=\"")
        .skip(1)
        .filter_map(|o| o.split('"').next())
        .filter(|v| Uuid::parse_str(v).is_ok())
        .collect();
    let mut expected = vec![log.admin.user_id.to_string(), log.dev.user_id.to_string()];
    expected.sort();
    let mut got: Vec<String> = options.iter().map(|s| s.to_string()).collect();
    got.sort();
    assert_eq!(got, expected);
    assert!(!body.contains(&outsider.email));
}

#[actix_web::test]
async fn resource_ids_link_to_resources_that_still_exist() {
    let log = log().await;
    let pod = log.app.insert_pod(log.team, "trainer");
    let gone = Uuid::new_v4();
    let at = datetime!(2026-11-05 10:00 UTC);
    seed(
        &log.app,
        log.team,
        at,
        &log.dev,
        "pod.created",
        "pod",
        &pod.to_string(),
    );
    seed(
        &log.app,
        log.team,
        at,
        &log.dev,
        "pod.created",
        "pod",
        &gone.to_string(),
    );
    seed(
        &log.app,
        log.team,
        at,
        &log.admin,
        "member.role_changed",
        "member",
        &log.dev.user_id.to_string(),
    );

    let (_, body) = log
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit", log.team))
        .await;

    assert!(
        body.contains(&format!("/accounts/{}/pods/{pod}/connect", log.team)),
        "a live Pod is linked"
    );
    assert!(
        !body.contains(&format!("/pods/{gone}/connect")),
        "a Pod that is gone is not"
    );
    assert!(
        body.contains("title=\"Open the member\""),
        "a current member is linked"
    );
}

/// diesel never caches a statement holding an SQL literal or made with
/// `sql_query`: PostgreSQL would parse and plan the page's statements on
/// every request, which costs as much as running them (measured). The
/// page, its next page and the people of the user select are each
/// prepared once per connection.
#[actix_web::test]
async fn the_pages_statements_are_prepared_once_per_connection() {
    use team_console::audit::filter::{Cursor, Filter};
    use team_console::audit::query;
    use team_console::ids::{AccountId, UserId};

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    let log = log().await;
    let mut conn = log.app.conn();
    // Enough of a log that planning for a tenth of it (what a bound LIMIT
    // makes PostgreSQL assume) is dearer than planning for each call.
    diesel::sql_query(format!(
        "INSERT INTO audit_entries (occurred_at, account_id, actor_id, actor_email, action, resource_type, details)
         SELECT now() - g * interval '1 minute', '{}', '{}', 'dan@example.com', 'pod.started', 'pod', '{{}}'
         FROM generate_series(1, 20000) g",
        log.team, log.dev.user_id
    ))
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("ANALYZE audit_entries")
        .execute(&mut conn)
        .unwrap();
    let filter = Filter {
        user: Some(UserId::from_uuid(log.dev.user_id)),
        ..Filter::default()
    };
    let team = AccountId::from_uuid(log.team);
    // PostgreSQL plans a prepared statement for its values five times, then
    // keeps a generic plan if that looks as cheap.
    for _ in 0..8 {
        let first = query::page(&mut conn, team, &filter, None, 2).unwrap();
        let last = &first.entries.last().unwrap().entry;
        let older = Cursor {
            occurred_at: last.occurred_at,
            id: last.id,
            newer: false,
        };
        let next = query::page(&mut conn, team, &filter, Some(older), 2).unwrap();
        assert_eq!(next.entries.len(), 2);
        assert_eq!(query::people(&mut conn, team).unwrap().len(), 2);
    }
    let prepared = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE '%audit_%'",
    )
    .get_result::<Count>(&mut conn)
    .unwrap();
    assert_eq!(prepared.n, 3);
    // ...and planned once: a bound LIMIT made every plan a custom one.
    let replanned = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements
          WHERE statement LIKE '%FROM \"audit_entries\"%' AND generic_plans = 0",
    )
    .get_result::<Count>(&mut conn)
    .unwrap();
    assert_eq!(replanned.n, 0, "the page's statements use a generic plan");
}

#[actix_web::test]
async fn the_pools_connections_keep_one_generic_plan_per_statement() {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        plan_cache_mode: String,
    }
    let app = TestApp::spawn().await;
    let pool = team_console::db::pool(&app.serving_url, 1);
    let mut conn = pool.get().unwrap();
    let setting = diesel::sql_query("SHOW plan_cache_mode")
        .get_result::<Setting>(&mut conn)
        .unwrap();
    assert_eq!(setting.plan_cache_mode, "force_generic_plan");
}
