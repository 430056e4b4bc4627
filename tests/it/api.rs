//! Issue 21: API keys (Settings → API keys) and the JSON API under
//! `/api/v1/accounts/{id}/…`, driven over HTTP with real keys.

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::json;
use team_console::authz::Role;
use team_console::db::schema::{api_keys, audit_entries, users};
use uuid::Uuid;

use crate::support::api::{ApiClient, json, secret_in};
use crate::support::{TestApp, TestUser, test_settings};

/// The scopes each role may use, from SPEC §2 (written here, not taken
/// from the app).
fn role_allows(role: Role, scope: &str) -> bool {
    match scope {
        "members:read" => true,
        "pods:read" => matches!(role, Role::Basic | Role::Dev | Role::Admin),
        "pods:write" => matches!(role, Role::Dev | Role::Admin),
        "billing:read" => matches!(role, Role::Billing | Role::Admin),
        "audit:read" | "invites:write" => role == Role::Admin,
        other => panic!("unknown scope {other}"),
    }
}

const SCOPES: [&str; 6] = [
    "audit:read",
    "members:read",
    "invites:write",
    "pods:read",
    "pods:write",
    "billing:read",
];

/// Every API endpoint with the scope it needs and a body, if it takes one.
fn endpoints(
    team: Uuid,
    pod: Uuid,
    invite: Uuid,
) -> Vec<(
    &'static str,
    String,
    &'static str,
    Option<serde_json::Value>,
)> {
    let base = format!("/api/v1/accounts/{team}");
    vec![
        ("GET", format!("{base}/audit"), "audit:read", None),
        ("GET", format!("{base}/members"), "members:read", None),
        (
            "POST",
            format!("{base}/invites"),
            "invites:write",
            Some(json!({"role": "basic"})),
        ),
        (
            "DELETE",
            format!("{base}/invites/{invite}"),
            "invites:write",
            None,
        ),
        ("GET", format!("{base}/pods"), "pods:read", None),
        (
            "POST",
            format!("{base}/pods/{pod}/start"),
            "pods:write",
            None,
        ),
        (
            "POST",
            format!("{base}/pods/{pod}/stop"),
            "pods:write",
            None,
        ),
        ("GET", format!("{base}/billing"), "billing:read", None),
    ]
}

fn invite_of(app: &TestApp, team: Uuid, admin: Uuid) -> Uuid {
    crate::matrix::insert_invite(app, team, admin)
}

fn problem_type(res: &reqwest::Response) -> String {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn actions_with_actor(app: &TestApp, action: &str) -> Vec<(Option<Uuid>, Option<String>)> {
    audit_entries::table
        .filter(audit_entries::action.eq(action))
        .order(audit_entries::id.asc())
        .select((audit_entries::actor_id, audit_entries::actor_name))
        .load(&mut app.conn())
        .unwrap()
}

#[actix_web::test]
async fn each_scope_and_creator_role_reaches_exactly_what_spec_section_2_allows() {
    // Arrange: for each role, a creator who made one key per scope while
    // an Admin, then was given that role.
    let app = TestApp::spawn().await;
    let owner = app.signed_up_user("Table Owner").await;
    let team = app.insert_team(owner.user_id, "Table Team");
    app.set_balance(team, 100_000);
    let pod = app.insert_pod(team, "table-pod");
    let mut failures = Vec::new();
    let mut requests = 0;

    for role in Role::ALL {
        let creator = app.signed_up_user(&format!("Table {role}")).await;
        app.add_member(team, creator.user_id, Role::Admin);
        let keys: Vec<(&str, ApiClient)> = SCOPES
            .iter()
            .map(|scope| {
                let secret =
                    app.insert_api_key(team, creator.user_id, &format!("{role} {scope}"), &[scope]);
                (*scope, app.api(&secret))
            })
            .collect();
        app.set_role(team, creator.user_id, role);

        for (key_scope, client) in &keys {
            let invite = invite_of(&app, team, owner.user_id);
            for (method, path, needs, body) in endpoints(team, pod, invite) {
                // Act
                let res = client.send(method, &path, body).await;
                requests += 1;

                // Assert
                let status = res.status();
                let allowed = *key_scope == needs && role_allows(role, needs);
                let label = format!("{role} creator, key {key_scope}: {method} {path}");
                if allowed && matches!(status.as_u16(), 401 | 403 | 404 | 422 | 500..=599) {
                    failures.push(format!("{label}: {status} (want allowed)"));
                }
                if !allowed && status != StatusCode::FORBIDDEN {
                    failures.push(format!("{label}: {status} (want 403)"));
                }
                if !allowed && !problem_type(&res).starts_with("application/problem+json") {
                    failures.push(format!("{label}: refused without a problem document"));
                }
                if res.headers().get("ratelimit").is_none() {
                    failures.push(format!("{label}: no RateLimit header"));
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {requests} requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every request of a key without the scope was recorded (5 roles'
    // worth of keys × 8 endpoints, less the one matching scope each).
    let refused = actions_with_actor(&app, "api_key.scope_refused").len();
    assert_eq!(refused, 4 * 6 * 8 - 4 * 8, "scope refusals recorded");
}

#[actix_web::test]
async fn an_admin_creates_a_key_sees_its_secret_once_and_only_its_hash_is_kept() {
    // Arrange
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let (_, page) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/settings/api-keys", team.id))
        .await;
    assert!(page.contains("Create a key"), "{page}");

    // Act
    let secret = app
        .create_api_key(&team.admin, team.id, "Audit export", &["audit:read"])
        .await;

    // Assert
    assert!(secret.starts_with("tc_") && secret.len() > 40, "{secret}");
    let (hash, prefix, scopes): (Vec<u8>, String, Vec<String>) = api_keys::table
        .select((api_keys::secret_hash, api_keys::prefix, api_keys::scopes))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(hash, team_console::tokens::sha256(&secret));
    assert!(secret.starts_with(&prefix) && prefix.len() < 16, "{prefix}");
    assert_eq!(scopes, vec!["audit:read".to_string()]);
    let (_, list) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/settings/api-keys", team.id))
        .await;
    assert!(!list.contains(&secret), "the secret is never shown again");
    assert!(list.contains(&prefix) && list.contains("Audit export") && list.contains("never"));
    let created = actions_with_actor(&app, "api_key.created");
    assert_eq!(created.len(), 1);

    // The key works, and its use shows on the list.
    let res = app
        .api(&secret)
        .get(&format!("/api/v1/accounts/{}/audit", team.id))
        .await;
    assert_eq!(res.status(), 200);
    let (_, list) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/settings/api-keys", team.id))
        .await;
    assert!(list.contains("from 127.0.0.1"), "last used and from where");
}

#[actix_web::test]
async fn a_key_form_with_no_scope_or_a_bad_expiry_is_shown_again_with_messages() {
    let app = TestApp::spawn().await;
    let team = app.team().await;

    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/settings/api-keys", team.id),
            &[("name", "Nightly"), ("lifetime_days", "400")],
        )
        .await;

    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(body.contains("Choose at least one scope."), "{body}");
    assert!(body.contains("between 1 and 365 days"), "{body}");
    assert!(body.contains("value=\"Nightly\""), "keeps what was typed");
    let keys: i64 = api_keys::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(keys, 0);
}

#[actix_web::test]
async fn creating_a_key_asks_for_the_password_after_ten_minutes() {
    // Arrange
    let (app, hand) = TestApp::spawn_with_clock().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/settings/api-keys", team.id);
    hand.advance(time::Duration::minutes(11));

    // Act
    let asked = team
        .admin
        .browser
        .post_form(&path, &[("name", "late"), ("pods:read", "on")])
        .await;
    let asked = asked.text().await.unwrap();
    let keys_before: i64 = api_keys::table.count().get_result(&mut app.conn()).unwrap();
    let confirmed = team
        .admin
        .browser
        .post_form(
            &path,
            &[
                ("name", "late"),
                ("pods:read", "on"),
                ("reauth_password", crate::support::PASSWORD),
            ],
        )
        .await;

    // Assert
    assert!(
        asked.contains("Confirm it") && asked.contains("create the API key"),
        "{asked}"
    );
    assert!(secret_in(&asked).is_none());
    assert_eq!(keys_before, 0);
    assert_eq!(confirmed.status(), 200);
    let secret = secret_in(&confirmed.text().await.unwrap()).expect("the new key");
    let path = format!("/api/v1/accounts/{}/pods", team.id);
    assert_eq!(app.api(&secret).get(&path).await.status(), 200);
}

#[actix_web::test]
async fn a_cookie_alone_or_no_key_gets_401() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/api/v1/accounts/{}/pods", team.id);

    let with_cookie = team.admin.browser.get(&path).await;
    let with_junk = app.api("tc_not-a-key").get(&path).await;

    for res in [with_cookie, with_junk] {
        assert_eq!(res.status(), 401);
        assert!(problem_type(&res).starts_with("application/problem+json"));
        assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
        let body = json(res).await;
        assert_eq!(body["status"], 401);
        assert!(body["detail"].as_str().unwrap().contains("Bearer"));
    }
}

#[actix_web::test]
async fn expired_revoked_and_orphaned_keys_get_401() {
    // Arrange
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/api/v1/accounts/{}/members", team.id);
    // The Dev member is made Admin to create keys, then leaves or is deleted.
    app.set_role(team.id, team.dev.user_id, Role::Admin);
    let expired = app.insert_api_key(team.id, team.admin.user_id, "expired", &["members:read"]);
    let revoked = app
        .create_api_key(&team.admin, team.id, "revoked", &["members:read"])
        .await;
    let removed = app.insert_api_key(team.id, team.dev.user_id, "removed", &["members:read"]);
    let deleted_creator = app.signed_up_user("Deleted Creator").await;
    app.add_member(team.id, deleted_creator.user_id, Role::Admin);
    let deleted = app.insert_api_key(
        team.id,
        deleted_creator.user_id,
        "deleted",
        &["members:read"],
    );
    for secret in [&expired, &revoked, &removed, &deleted] {
        assert_eq!(
            app.api(secret).get(&path).await.status(),
            200,
            "works at first"
        );
    }

    // Act
    diesel::update(api_keys::table.filter(api_keys::name.eq("expired")))
        .set(api_keys::expires_at.eq(time::OffsetDateTime::now_utc() - time::Duration::seconds(1)))
        .execute(&mut app.conn())
        .unwrap();
    let revoked_id: Uuid = api_keys::table
        .filter(api_keys::name.eq("revoked"))
        .select(api_keys::id)
        .first(&mut app.conn())
        .unwrap();
    let res = team
        .admin
        .browser
        .post_form(
            &format!(
                "/accounts/{}/settings/api-keys/{revoked_id}/revoke",
                team.id
            ),
            &[],
        )
        .await;
    assert!(res.status().is_redirection(), "revoked: {}", res.status());
    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{}/remove", team.id, team.dev.user_id),
            &[],
        )
        .await;
    assert!(res.status().is_redirection(), "removed: {}", res.status());
    diesel::update(users::table.find(deleted_creator.user_id))
        .set(users::deleted_at.eq(time::OffsetDateTime::now_utc()))
        .execute(&mut app.conn())
        .unwrap();

    // Assert
    for (name, secret) in [
        ("expired", &expired),
        ("revoked", &revoked),
        ("creator removed", &removed),
        ("creator deleted", &deleted),
    ] {
        assert_eq!(app.api(secret).get(&path).await.status(), 401, "{name}");
    }
    assert_eq!(actions_with_actor(&app, "api_key.revoked").len(), 1);
}

#[actix_web::test]
async fn a_pods_read_key_stopping_a_pod_is_refused_and_audited() {
    // Arrange
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 10_000);
    let pod = app.insert_pod(team.id, "runaway");
    let writer = app.insert_api_key(team.id, team.admin.user_id, "starter", &["pods:write"]);
    let start = format!("/api/v1/accounts/{}/pods/{pod}/start", team.id);
    assert_eq!(app.api(&writer).post(&start, json!({})).await.status(), 200);
    let reader = app
        .create_api_key(&team.admin, team.id, "read only", &["pods:read"])
        .await;

    // Act
    let res = app
        .api(&reader)
        .post(
            &format!("/api/v1/accounts/{}/pods/{pod}/stop", team.id),
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(res.status(), 403);
    let body = json(res).await;
    assert!(
        body["detail"].as_str().unwrap().contains("pods:write"),
        "{body}"
    );
    assert_eq!(app.pod_status(pod), "running");
    let refused = actions_with_actor(&app, "api_key.scope_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, Some(team.admin.user_id));
    let name = refused[0].1.clone().unwrap();
    assert!(name.contains("read only"), "{name}");
}

#[actix_web::test]
async fn what_a_key_changes_is_audited_under_its_name() {
    // Arrange
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 10_000);
    let pod = app.insert_pod(team.id, "cron-pod");
    let secret = app
        .create_api_key(
            &team.admin,
            team.id,
            "cron",
            &["pods:write", "invites:write"],
        )
        .await;
    let api = app.api(&secret);
    let base = format!("/api/v1/accounts/{}", team.id);

    // Act
    let started = api
        .post(&format!("{base}/pods/{pod}/start"), json!({}))
        .await;
    let stopped = api
        .post(&format!("{base}/pods/{pod}/stop"), json!({}))
        .await;
    let again = api
        .post(&format!("{base}/pods/{pod}/stop"), json!({}))
        .await;
    let invited = api
        .post(
            &format!("{base}/invites"),
            json!({"role": "dev", "email": "new@example.com", "lifetime_hours": 24}),
        )
        .await;

    // Assert
    assert_eq!(started.status(), 200);
    assert_eq!(stopped.status(), 200);
    assert_eq!(json(stopped).await["status"], "stopped");
    assert_eq!(again.status(), 409);
    assert_eq!(json(again).await["detail"], "cron-pod is already stopped.");
    assert_eq!(invited.status(), 201);
    let invite = json(invited).await;
    assert!(
        invite["link"].as_str().unwrap().contains("/invites/"),
        "{invite}"
    );
    let revoke = api
        .send(
            "DELETE",
            &format!("{base}/invites/{}", invite["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    for action in [
        "pod.started",
        "pod.stopped",
        "invite.created",
        "invite.revoked",
    ] {
        let entries = actions_with_actor(&app, action);
        assert_eq!(entries.len(), 1, "{action}");
        assert_eq!(entries[0].0, Some(team.admin.user_id), "{action}");
        let name = entries[0].1.clone().unwrap();
        assert!(
            name.contains("API key") && name.contains("cron"),
            "{action}: {name}"
        );
    }
    // The Audit logs page says it in a sentence naming the key.
    let (_, page) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/audit?action=pod.stopped", team.id))
        .await;
    assert!(page.contains("cron"), "{page}");
}

#[actix_web::test]
async fn another_accounts_ids_are_404() {
    // Arrange
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let other_owner = app.signed_up_user("Other Owner").await;
    let other = app.insert_team(other_owner.user_id, "Other Team");
    let other_pod = app.insert_pod(other, "not-yours");
    let other_invite = invite_of(&app, other, other_owner.user_id);
    let secret = app.insert_api_key(team.id, team.admin.user_id, "all", &SCOPES);
    let api = app.api(&secret);

    // Act and assert
    for (method, path, _, body) in endpoints(other, other_pod, other_invite) {
        let res = api.send(method, &path, body).await;
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    let mine = format!("/api/v1/accounts/{}", team.id);
    for (method, path) in [
        ("POST", format!("{mine}/pods/{other_pod}/stop")),
        ("POST", format!("{mine}/pods/{other_pod}/start")),
        ("DELETE", format!("{mine}/invites/{other_invite}")),
    ] {
        let res = api.send(method, &path, None).await;
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    assert_eq!(app.pod_status(other_pod), "stopped");
}

#[actix_web::test]
async fn bad_input_is_a_problem_document_with_the_pages_words() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let secret = app.insert_api_key(team.id, team.admin.user_id, "all", &SCOPES);
    let api = app.api(&secret);
    let base = format!("/api/v1/accounts/{}", team.id);

    let not_json = api
        .client
        .post(format!("{}{base}/invites", app.address))
        .bearer_auth(&secret)
        .body("role=basic")
        .send()
        .await
        .unwrap();
    let bad_role = api
        .post(&format!("{base}/invites"), json!({"role": "owner"}))
        .await;
    let bad_filter = api
        .get(&format!(
            "{base}/audit?action=nope&to=2020-01-01&from=2021-01-01"
        ))
        .await;
    let bad_limit = api.get(&format!("{base}/audit?limit=1000")).await;

    assert_eq!(not_json.status(), 400);
    assert_eq!(bad_role.status(), 422);
    assert!(
        json(bad_role).await["detail"]
            .as_str()
            .unwrap()
            .contains("Choose a role")
    );
    assert_eq!(bad_filter.status(), 422);
    let detail = json(bad_filter).await["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("action:") && detail.contains("to:"),
        "{detail}"
    );
    assert_eq!(bad_limit.status(), 422);
}

/// The CSV's rows, as records of strings (header left out).
fn csv_rows(body: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// An API entry as the CSV writes it.
fn as_csv_row(e: &serde_json::Value) -> Vec<String> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    [
        text(&e["occurred_at"]),
        text(&e["user_id"]),
        text(&e["user_email"]),
        text(&e["action"]),
        text(&e["resource_type"]),
        text(&e["resource_id"]),
        text(&e["ip"]),
        text(&e["user_agent"]),
        String::new(),
        text(&e["summary"]),
        e["id"].to_string(),
        text(&e["user_name"]),
        text(&e["account_id"]),
        text(&e["prev_hash"]),
        text(&e["hash"]),
    ]
    .map(|c| team_console::audit::export::defuse(&c))
    .to_vec()
}

#[actix_web::test]
async fn the_audit_api_pages_through_exactly_the_rows_of_the_pages_csv() {
    // Arrange: entries of several kinds, through the pages and the API.
    let app = TestApp::spawn().await;
    let team = app.team().await;
    app.set_balance(team.id, 100_000);
    let secret = app
        .create_api_key(
            &team.admin,
            team.id,
            "auditor",
            &["audit:read", "pods:write"],
        )
        .await;
    let api = app.api(&secret);
    for n in 0..3 {
        let pod = app.insert_pod(team.id, &format!("pod-{n}"));
        let base = format!("/api/v1/accounts/{}/pods/{pod}", team.id);
        api.post(&format!("{base}/start"), json!({})).await;
        api.post(&format!("{base}/stop"), json!({})).await;
    }
    for filter in [
        "",
        "action=pod.stopped",
        "q=pod-1",
        "resource=pod&from=2000-01-01",
    ] {
        // Act
        let mut from_api = Vec::new();
        let mut next = Some(format!(
            "/api/v1/accounts/{}/audit?{filter}&limit=2",
            team.id
        ));
        let mut pages = 0;
        while let Some(url) = next {
            let res = api.get(&url).await;
            assert_eq!(res.status(), 200, "{url}");
            let page = json(res).await;
            from_api.extend(page["entries"].as_array().unwrap().iter().cloned());
            next = page["next"].as_str().map(str::to_string);
            pages += 1;
            assert!(pages < 50, "paging ends");
        }
        let (status, csv) = team
            .admin
            .browser
            .get_page(&format!("/accounts/{}/audit.csv?{filter}", team.id))
            .await;
        assert_eq!(status, 200);

        // Assert
        let csv = csv_rows(&csv);
        assert!(!csv.is_empty(), "{filter}");
        assert_eq!(csv.len(), from_api.len(), "{filter}");
        for (row, entry) in csv.iter().zip(&from_api) {
            let mut want = row.clone();
            let details: serde_json::Value = serde_json::from_str(&want[8]).unwrap();
            assert_eq!(details, entry["details"], "{filter}");
            want[8] = String::new();
            assert_eq!(want, as_csv_row(entry), "{filter}");
        }
    }
}

#[actix_web::test]
async fn the_rate_limit_is_shared_by_two_consoles_on_one_database() {
    // Arrange: two consoles on the same database, 5 requests a minute.
    let server = crate::support::database::Server::get();
    let db = server.create_database();
    let mut settings = test_settings(server.serving_url(&db));
    settings.api_rate_limit = 5;
    let first = TestApp::spawn_with(settings.clone(), db).await;
    let mut settings = test_settings(first.serving_url.clone());
    settings.api_rate_limit = 5;
    let second = TestApp::spawn_with(settings, String::new()).await;
    let admin: TestUser = first.signed_up_user("Limited Admin").await;
    let team = first.insert_team(admin.user_id, "Limited Team");
    let secret = first.insert_api_key(team, admin.user_id, "busy", &["pods:read"]);
    let path = format!("/api/v1/accounts/{team}/pods");

    // Act: five requests, alternating consoles, then a sixth.
    let mut remaining = Vec::new();
    for n in 0..5 {
        let app = if n % 2 == 0 { &first } else { &second };
        let res = app.api(&secret).get(&path).await;
        assert_eq!(res.status(), 200, "request {n}");
        assert_eq!(
            res.headers().get("ratelimit-policy").unwrap(),
            "\"per-key\";q=5;w=60"
        );
        let header = res
            .headers()
            .get("ratelimit")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        remaining.push(header.split(';').nth(1).unwrap().to_string());
    }
    let refused = second.api(&secret).get(&path).await;

    // Assert
    assert_eq!(remaining, ["r=4", "r=3", "r=2", "r=1", "r=0"]);
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(refused.headers().get("ratelimit").is_some());
    assert!(problem_type(&refused).starts_with("application/problem+json"));
    second.stop();
}

#[actix_web::test]
async fn the_openapi_document_is_3_1_and_lists_every_api_route() {
    let app = TestApp::spawn().await;

    let res = app.browser().get("/api/v1/openapi.json").await;

    assert_eq!(res.status(), 200);
    let doc = json(res).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let api_routes: Vec<_> = team_console::routes::all()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/accounts/"))
        .collect();
    assert_eq!(api_routes.len(), 8);
    for route in api_routes {
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not in the document",
            route.method,
            route.path
        );
        assert!(
            op["responses"]["200"].is_object()
                || op["responses"]["201"].is_object()
                || op["responses"]["204"].is_object()
        );
        assert!(
            op["responses"]["401"].is_object(),
            "{} {}",
            route.method,
            route.path
        );
        assert!(op["security"].is_array(), "{} {}", route.method, route.path);
    }
    // Every schema a response names is in the document.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
}

#[actix_web::test]
async fn a_personal_accounts_key_cannot_list_members_or_invite() {
    let app = TestApp::spawn().await;
    let solo = app.signed_up_user("Solo Scripter").await;
    let secret = app
        .create_api_key(
            &solo,
            solo.personal_account_id,
            "mine",
            &["members:read", "pods:read"],
        )
        .await;
    let base = format!("/api/v1/accounts/{}", solo.personal_account_id);

    assert_eq!(
        app.api(&secret)
            .get(&format!("{base}/members"))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.api(&secret).get(&format!("{base}/pods")).await.status(),
        200
    );
}

#[actix_web::test]
async fn a_creator_without_two_factor_in_a_team_requiring_it_gets_403() {
    // Arrange
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let secret = app.insert_api_key(team.id, team.admin.user_id, "gated", &["pods:read"]);
    let path = format!("/api/v1/accounts/{}/pods", team.id);
    assert_eq!(app.api(&secret).get(&path).await.status(), 200);

    // Act
    diesel::update(team_console::db::schema::accounts::table.find(team.id))
        .set(team_console::db::schema::accounts::require_two_factor.eq(true))
        .execute(&mut app.conn())
        .unwrap();
    let res = app.api(&secret).get(&path).await;

    // Assert
    assert_eq!(res.status(), 403);
    assert!(
        json(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("two-factor")
    );
}
