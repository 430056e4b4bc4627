use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::db::schema::{audit_entries, invites, sessions};

use crate::support::{PASSWORD, TestApp, assert_redirect_to, audit_actions, invite_links};

#[actix_web::test]
async fn invite_new_member_shows_a_copyable_link_in_pending_invites() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;

    let (status, body) = admin
        .browser
        .get_page(&format!("/accounts/{team}/members"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Invite New Member"));
    assert!(body.contains("No pending invites"));

    let link = app.create_invite(&admin.browser, team, "dev", "").await;

    assert!(
        link.starts_with(&format!("{}/invites/", app.address)),
        "{link}"
    );
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43, "256-bit token");
    let res = admin
        .browser
        .get(&format!("/accounts/{team}/members"))
        .await;
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let body = res.text().await.unwrap();
    assert!(body.contains("Copy link"));
    assert!(body.contains("data-copy-target"));
    assert!(body.contains("expires <span"));
    assert!(body.contains("in 6 days") || body.contains("in 7 days"));
    // The link can be shown again at any time while pending.
    let (_, again) = admin
        .browser
        .get_page(&format!("/accounts/{team}/members"))
        .await;
    assert_eq!(invite_links(&again), vec![link.clone()]);
}

#[actix_web::test]
async fn the_database_holds_no_usable_token() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let link = app.create_invite(&admin.browser, team, "basic", "").await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let visitor = app.browser();
    app.open_invite(&visitor, &link).await;

    let mut conn = app.conn();
    let dump: Vec<String> = diesel::sql_query(
        "SELECT row_to_json(t)::text AS json FROM (SELECT * FROM invites) t
         UNION ALL SELECT state::text FROM sessions
         UNION ALL SELECT row_to_json(a)::text FROM audit_entries a",
    )
    .load::<Row>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| r.json)
    .collect();
    assert!(!dump.is_empty());
    assert!(
        dump.iter().all(|row| !row.contains(&token)),
        "a token is stored in plaintext"
    );
    let _ = (invites::table, sessions::table, audit_entries::table);
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    json: String,
}

#[actix_web::test]
async fn a_signed_out_invitee_signs_up_from_the_link_and_joins_as_dev() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice Admin").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let link = app.create_invite(&admin.browser, team, "dev", "").await;
    let invitee = app.browser();

    let res = app.open_invite(&invitee, &link).await;
    assert_redirect_to(&res, "/invite");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    assert_eq!(res.headers()["cache-control"], "no-store");

    let res = invitee.get("/invite").await;
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let body = res.text().await.unwrap();
    invitee.remember_csrf(&body);
    assert!(
        body.contains(
            "Alice Admin</strong> invites you to join the team <strong>Acme GPU</strong>"
        )
    );
    assert!(body.contains(">Dev</span>"));
    assert!(body.contains("Sign up to join"));
    assert!(body.contains("/sign-up?next=%2Finvite"));

    let res = invitee
        .post_form(
            "/sign-up",
            &[
                ("email", "newcomer@example.com"),
                ("display_name", "Nora Newcomer"),
                ("password", PASSWORD),
                ("next", "/invite"),
            ],
        )
        .await;
    assert_redirect_to(&res, "/invite");
    let (status, body) = invitee.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Join Team"));

    let res = invitee.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{team}"));
    let (_, body) = invitee.get_page(&format!("/accounts/{team}")).await;
    assert!(body.contains("Welcome to Acme GPU! You joined as Dev."));
    assert!(
        body.contains(&format!("/accounts/{team}/pods")),
        "Dev sees Pods"
    );
    assert!(
        !body.contains(&format!("/accounts/{team}/billing")),
        "Dev does not see Billing"
    );

    let actions = audit_actions(&mut app.conn());
    assert!(
        actions.ends_with(&["invite.accepted".into(), "member.joined".into()]),
        "{actions:?}"
    );
    // Consumed: the link is now used.
    let again = app.browser();
    app.open_invite(&again, &link).await;
    assert_eq!(again.get("/invite").await.status(), StatusCode::GONE);
}

#[actix_web::test]
async fn a_signed_out_invitee_can_sign_in_and_come_back() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let existing = app.signed_up_user("Existing").await;
    existing.browser.post_form("/sign-out", &[]).await;
    let link = app.create_invite(&admin.browser, team, "billing", "").await;

    app.open_invite(&existing.browser, &link).await;
    let res = existing
        .browser
        .post_form(
            "/sign-in",
            &[
                ("email", &existing.email),
                ("password", PASSWORD),
                ("next", "/invite"),
            ],
        )
        .await;
    assert_redirect_to(&res, "/invite");
    existing.browser.get_page("/invite").await;
    let res = existing.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{team}"));
    assert_eq!(
        app.role_of(team, existing.user_id).as_deref(),
        Some("billing")
    );
}

#[actix_web::test]
async fn used_expired_revoked_malformed_and_unknown_links_say_so() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let joiner = app.signed_up_user("Joiner").await;

    // Used.
    let used = app.create_invite(&admin.browser, team, "basic", "").await;
    app.open_invite(&joiner.browser, &used).await;
    joiner.browser.get_page("/invite").await;
    assert_eq!(
        joiner
            .browser
            .post_form("/invite/accept", &[])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let late = app.signed_up_user("Late").await;
    app.open_invite(&late.browser, &used).await;
    let res = late.browser.get("/invite").await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("already been used"));

    // Expired.
    let expired = app.create_invite(&admin.browser, team, "basic", "").await;
    diesel::update(invites::table.filter(invites::accepted_at.is_null()))
        .set(invites::expires_at.eq(time::OffsetDateTime::now_utc() - time::Duration::minutes(1)))
        .execute(&mut app.conn())
        .unwrap();
    app.open_invite(&late.browser, &expired).await;
    let res = late.browser.get("/invite").await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("has expired"));
    late.browser.csrf().await;
    let res = late.browser.post_form("/invite/accept", &[]).await;
    assert_eq!(res.status(), StatusCode::GONE);

    // Revoked.
    let revoked = app.create_invite(&admin.browser, team, "dev", "").await;
    let invite_id: uuid::Uuid = invites::table
        .filter(invites::revoked_at.is_null())
        .filter(invites::accepted_at.is_null())
        .filter(invites::expires_at.gt(time::OffsetDateTime::now_utc()))
        .select(invites::id)
        .first(&mut app.conn())
        .unwrap();
    let (status, body) = admin
        .browser
        .get_page(&format!("/accounts/{team}/invites/{invite_id}/revoke"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Revoke this invite?"));
    let res = admin
        .browser
        .post_form(&format!("/accounts/{team}/invites/{invite_id}/revoke"), &[])
        .await;
    assert_redirect_to(&res, &format!("/accounts/{team}/members#invites"));
    app.open_invite(&late.browser, &revoked).await;
    let res = late.browser.get("/invite").await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("revoked"));

    // Malformed and unknown.
    for path in [
        "/invites/short",
        "/invites/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let res = late.browser.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.text().await.unwrap().contains("Invite link not valid"));
    }
    // A NUL is refused before any lookup (the request-text gate).
    let res = late.browser.get("/invites/%00%00").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let failures: Vec<serde_json::Value> = audit_entries::table
        .filter(audit_entries::action.eq("invite.accept_failed"))
        .select(audit_entries::details)
        .load(&mut app.conn())
        .unwrap();
    assert!(
        failures.iter().any(|d| d["reason"] == "expired"),
        "{failures:?}"
    );
    assert!(audit_actions(&mut app.conn()).contains(&"invite.revoked".to_string()));
}

#[actix_web::test]
async fn regenerate_kills_the_old_link() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let old = app.create_invite(&admin.browser, team, "dev", "").await;
    let invite_id: uuid::Uuid = invites::table
        .select(invites::id)
        .first(&mut app.conn())
        .unwrap();

    let res = admin
        .browser
        .post_form(
            &format!("/accounts/{team}/invites/{invite_id}/regenerate"),
            &[],
        )
        .await;
    assert_redirect_to(&res, &format!("/accounts/{team}/members#invites"));
    let (_, body) = admin
        .browser
        .get_page(&format!("/accounts/{team}/members"))
        .await;
    let new = invite_links(&body).pop().unwrap();

    assert_ne!(old, new);
    let visitor = app.browser();
    assert_eq!(
        app.open_invite(&visitor, &old).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_redirect_to(&app.open_invite(&visitor, &new).await, "/invite");
    assert!(audit_actions(&mut app.conn()).contains(&"invite.regenerated".to_string()));
}

#[actix_web::test]
async fn an_email_bound_invite_is_only_for_that_user() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let intended = app.signed_up_user("Intended").await;
    let other = app.signed_up_user("Other").await;
    let link = app
        .create_invite(&admin.browser, team, "dev", &intended.email.to_uppercase())
        .await;

    app.open_invite(&other.browser, &link).await;
    let (status, body) = other.browser.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Sign out and continue as"), "{body}");
    assert!(!body.contains("Join Team</button>"));
    let res = other.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, "/invite");
    assert_eq!(app.role_of(team, other.user_id), None);

    app.open_invite(&intended.browser, &link).await;
    intended.browser.get_page("/invite").await;
    let res = intended.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{team}"));
}

#[actix_web::test]
async fn an_existing_member_is_told_so_and_the_invite_stays_pending() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let link = app.create_invite(&admin.browser, team, "dev", "").await;

    app.open_invite(&admin.browser, &link).await;
    let (status, body) = admin.browser.get_page("/invite").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("You are already a member of Acme GPU."));
    let res = admin.browser.post_form("/invite/accept", &[]).await;
    assert_redirect_to(&res, "/invite");

    let (_, body) = admin
        .browser
        .get_page(&format!("/accounts/{team}/members"))
        .await;
    assert_eq!(invite_links(&body), vec![link]);
}

#[actix_web::test]
async fn of_fifty_concurrent_accepts_exactly_one_joins() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let link = app.create_invite(&admin.browser, team, "dev", "").await;
    let mut racers = Vec::new();
    for i in 0..50 {
        let user = app.signed_up_user(&format!("Racer {i}")).await;
        app.open_invite(&user.browser, &link).await;
        user.browser.get_page("/invite").await;
        racers.push(user);
    }

    let attempts = racers
        .iter()
        .map(|u| u.browser.post_form("/invite/accept", &[]));
    let results = futures_util::future::join_all(attempts).await;

    let joined = results
        .iter()
        .filter(|r| r.status() == StatusCode::SEE_OTHER)
        .count();
    let gone = results
        .iter()
        .filter(|r| r.status() == StatusCode::GONE)
        .count();
    assert_eq!((joined, gone), (1, 49));
    let members: i64 = team_console::db::schema::memberships::table
        .filter(team_console::db::schema::memberships::account_id.eq(team))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(members, 2, "the Admin and one racer");
}

#[actix_web::test]
async fn invite_form_validates_role_email_and_lifetime() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let path = format!("/accounts/{team}/invites");
    for (fields, message) in [
        (
            vec![("role", "owner"), ("email", ""), ("lifetime_hours", "168")],
            "Choose a role",
        ),
        (
            vec![
                ("role", "dev"),
                ("email", "nope"),
                ("lifetime_hours", "168"),
            ],
            "Enter a valid email",
        ),
        (
            vec![("role", "dev"), ("email", ""), ("lifetime_hours", "0")],
            "between 1 hour and 30 days",
        ),
        (
            vec![("role", "dev"), ("email", ""), ("lifetime_hours", "721")],
            "between 1 hour and 30 days",
        ),
        (
            vec![("role", "dev"), ("email", ""), ("lifetime_hours", "soon")],
            "between 1 hour and 30 days",
        ),
    ] {
        let res = admin.browser.post_form(&path, &fields).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(res.text().await.unwrap().contains(message), "{message}");
    }
    let count: i64 = invites::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn a_team_has_at_most_100_pending_invites() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    for _ in 0..100 {
        let res = admin
            .browser
            .post_form(
                &format!("/accounts/{team}/invites"),
                &[("role", "basic"), ("lifetime_hours", "1")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let res = admin
        .browser
        .post_form(
            &format!("/accounts/{team}/invites"),
            &[("role", "basic"), ("lifetime_hours", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("100 pending invites"));
}

#[actix_web::test]
async fn another_teams_invite_id_is_not_found() {
    let app = TestApp::spawn().await;
    let a = app.signed_up_user("Alice").await;
    let team_a = app.convert_to_team(&a, "Team A").await;
    let b = app.signed_up_user("Bob").await;
    let team_b = app.convert_to_team(&b, "Team B").await;
    app.create_invite(&b.browser, team_b, "dev", "").await;
    let b_invite: uuid::Uuid = invites::table
        .select(invites::id)
        .first(&mut app.conn())
        .unwrap();

    assert_eq!(
        a.browser
            .get(&format!("/accounts/{team_a}/invites/{b_invite}/revoke"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    for action in ["revoke", "regenerate"] {
        let res = a
            .browser
            .post_form(
                &format!("/accounts/{team_a}/invites/{b_invite}/{action}"),
                &[],
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let revoked: Option<time::OffsetDateTime> = invites::table
        .find(b_invite)
        .select(invites::revoked_at)
        .first(&mut app.conn())
        .unwrap();
    assert!(revoked.is_none());
}

#[actix_web::test]
async fn tokens_passwords_and_session_keys_never_reach_the_logs() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    let team = app.convert_to_team(&admin, "Acme GPU").await;
    let link = app.create_invite(&admin.browser, team, "dev", "").await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let visitor = app.browser();
    app.open_invite(&visitor, &link).await;
    visitor.get_page("/invite").await;
    // A query string that must not be logged either.
    visitor.get("/sign-in?next=%2Fsecret-query-marker").await;
    let cookie = admin.browser.cookie_header().unwrap();
    let session_value = cookie.split_once('=').unwrap().1.to_string();

    let text = crate::support::logs();
    let json = crate::support::json_logs();

    for logs in [&text, &json] {
        assert!(
            logs.contains("/invites/{token}"),
            "the access log names the route, not the link"
        );
        assert!(!logs.contains(&token), "an invite token was logged");
        assert!(!logs.contains(PASSWORD), "a password was logged");
        assert!(
            !logs.contains(&session_value),
            "a session cookie was logged"
        );
        assert!(
            !logs.contains("secret-query-marker"),
            "a query string was logged"
        );
    }
}

/// LOG_FORMAT=json: one JSON object a line, and every line written while
/// a request is answered names it (its span's request id), the access
/// log's line included.
#[actix_web::test]
async fn json_log_lines_parse_and_carry_their_request_id() {
    let mark = crate::support::json_log_mark();
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Alice").await;
    app.browser()
        .sign_in(&admin.email, "a wrong password entirely")
        .await;

    let logs = crate::support::json_logs_since(mark);

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["message"] == "request")
        .collect();
    assert!(requests.len() >= 3, "{logs}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    for line in requests {
        let id = line["span"]["request_id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 32, "a request id: {line}");
        assert!(
            line["status"].is_u64() && line["path"].is_string(),
            "{line}"
        );
    }
    assert!(!logs.contains(PASSWORD) && !logs.contains("a wrong password entirely"));
}
