//! Issue 20's findings, each kept fixed: refused sign-ins still count,
//! lock-outs cannot be aimed at someone, sign-up does not confirm accounts
//! unthrottled, request text is gated, names cannot hide bidi tricks,
//! members' emails are for Admins.

use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::db::schema::{accounts, audit_entries as a};

use crate::support::{Browser, PASSWORD, TestApp, audit_actions};

fn failed_sign_ins(app: &TestApp) -> usize {
    audit_actions(&mut app.conn())
        .iter()
        .filter(|action| *action == "user.sign_in_failed")
        .count()
}

/// A console behind a proxy at 127.0.0.1, so each test client can come
/// from an address of its own (X-Forwarded-For).
async fn behind_proxy() -> TestApp {
    let server = crate::support::Server::get();
    let db = server.create_database();
    let mut settings = crate::support::test_settings(server.serving_url(&db));
    settings.trusted_proxy = Some("127.0.0.1".parse().unwrap());
    TestApp::spawn_with(settings, db).await
}

async fn sign_in_from(
    browser: &Browser,
    ip: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let token = browser.csrf().await;
    browser
        .client
        .post(browser.url("/sign-in"))
        .header("x-forwarded-for", ip)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_overlong_email_at_sign_in_is_refused_counted_and_audited() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let email = format!("{}@example.com", "a".repeat(3000));

    for attempt in 0..5 {
        let res = browser.sign_in(&email, "wrong password attempt").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "attempt {attempt}");
    }
    let res = browser.sign_in(&email, "wrong password attempt").await;

    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(failed_sign_ins(&app), 5);
}

#[actix_web::test]
async fn a_nul_byte_at_sign_in_is_a_failed_sign_in() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Nul Tester").await;
    let browser = app.browser();
    let token = browser.csrf().await;
    let body = format!(
        "email={}%00&password=x%00y&csrf_token={token}",
        user.email.replace('@', "%40")
    );

    let res = browser
        .client
        .post(browser.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The email or password is not right.")
    );
    assert_eq!(failed_sign_ins(&app), 1);
    let recorded: Option<String> = a::table
        .filter(a::action.eq("user.sign_in_failed"))
        .select(a::actor_email)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(
        recorded.as_deref(),
        Some(user.email.as_str()),
        "stored without the NUL"
    );
}

#[actix_web::test]
async fn failing_with_someone_elses_email_locks_out_the_one_failing_not_the_owner() {
    let app = behind_proxy().await;
    let owner = app.signed_up_user("Locked Owner").await;
    let attacker = app.browser();
    for _ in 0..5 {
        sign_in_from(&attacker, "203.0.113.66", &owner.email, "guessing wrongly").await;
    }
    let res = sign_in_from(&attacker, "203.0.113.66", &owner.email, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the attacker is locked"
    );

    let from_home = app.browser();
    let res = sign_in_from(&from_home, "198.51.100.7", &owner.email, PASSWORD).await;

    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the owner signs in from elsewhere"
    );
    let res = sign_in_from(&attacker, "203.0.113.66", &owner.email, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the owner's sign-in does not unlock the attacker's address"
    );
}

#[actix_web::test]
async fn failures_spread_over_many_addresses_still_reach_the_email_ceiling() {
    let app = behind_proxy().await;
    let owner = app.signed_up_user("Sprayed Owner").await;
    let attacker = app.browser();
    let limit = team_console::accounts::throttle::EMAIL_LIMIT;
    for i in 0..limit {
        let ip = format!("203.0.113.{}", i % 250 + 1);
        sign_in_from(&attacker, &ip, &owner.email, "guessing wrongly").await;
    }

    let res = sign_in_from(&app.browser(), "198.51.100.7", &owner.email, PASSWORD).await;

    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn sign_up_with_taken_emails_is_throttled_and_neutral() {
    let app = TestApp::spawn().await;
    let mut taken = Vec::new();
    for i in 0..6 {
        taken.push(app.signed_up_user(&format!("Taken {i}")).await.email);
    }
    let prober = app.browser();
    let try_email = |email: String| {
        let prober = prober.clone();
        async move {
            prober
                .post_form(
                    "/sign-up",
                    &[
                        ("email", email.as_str()),
                        ("display_name", "Prober"),
                        ("password", PASSWORD),
                    ],
                )
                .await
        }
    };
    let limit = team_console::accounts::throttle::SIGN_UP_LIMIT as usize;
    for email in &taken[..limit] {
        let res = try_email(email.clone()).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("already exists"),
            "does not confirm the account"
        );
        assert!(body.contains("sign in instead"));
    }

    let res = try_email(taken[limit].clone()).await;

    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let res = try_email("brand.new@example.com".into()).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "no new account from that address until the lock ends"
    );
}

#[actix_web::test]
async fn invalid_utf8_and_nul_in_a_form_are_refused_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Gate Admin").await;
    let team = app.convert_to_team(&admin, "Gate Team").await;
    let path = format!("/accounts/{team}/settings");
    let token = admin.browser.csrf().await;

    for name in [
        "Bad%ff%feName",
        "Over%C0%80long",
        "Nul%00Name",
        "Surrogate%ED%A0%80",
    ] {
        let res = admin
            .browser
            .client
            .post(admin.browser.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name={name}&csrf_token={token}"))
            .send()
            .await
            .unwrap();

        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
    }
    let stored: String = accounts::table
        .find(team)
        .select(accounts::name)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(stored, "Gate Team");
}

#[actix_web::test]
async fn names_refuse_bidi_controls_with_the_form_shown_again() {
    let app = TestApp::spawn().await;
    let admin = app.signed_up_user("Bidi Admin").await;
    let team = app.convert_to_team(&admin, "Bidi Team").await;

    let res = admin
        .browser
        .post_form(
            &format!("/accounts/{team}/settings"),
            &[("name", "Invoice\u{202E}fdp.exe")],
        )
        .await;

    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("invisible formatting characters"), "{body}");
    let res = admin
        .browser
        .post_form(
            &format!("/accounts/{team}/pods"),
            &[
                ("name", "gpu\u{2066}box"),
                ("gpu_type", "l40s"),
                ("gpu_count", "1"),
                ("image", "pytorch/pytorch:latest"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn the_user_agent_is_stored_without_control_characters() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let token = browser.csrf().await;

    browser
        .client
        .post(browser.url("/sign-in"))
        .header(
            "user-agent",
            reqwest::header::HeaderValue::from_bytes(b"Evil\tAgent/1.0 \xe9").unwrap(),
        )
        .form(&[
            ("email", "nobody@example.com"),
            ("password", "wrong password attempt"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();

    let agent: Option<String> = a::table
        .filter(a::action.eq("user.sign_in_failed"))
        .select(a::user_agent)
        .first(&mut app.conn())
        .unwrap();
    let agent = agent.unwrap();
    assert!(agent.starts_with("EvilAgent/1.0"), "{agent:?}");
    assert!(!agent.chars().any(char::is_control));
}

#[actix_web::test]
async fn only_admins_see_members_emails() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/members", team.id);

    let (_, as_admin) = team.admin.browser.get_page(&path).await;
    assert!(as_admin.contains(&team.dev.email));

    let everyone = [&team.admin, &team.basic, &team.billing, &team.dev];
    for viewer in [&team.basic, &team.billing, &team.dev] {
        let (status, body) = viewer.browser.get_page(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("Dan Dev") && body.contains("Alice Admin"),
            "names are shown"
        );
        for other in everyone.iter().filter(|u| u.email != viewer.email) {
            assert!(!body.contains(&other.email), "{} is not shown", other.email);
        }
    }
}
