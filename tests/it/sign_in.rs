use reqwest::StatusCode;

use crate::support::{PASSWORD, TestApp, assert_redirect_to, audit_actions};

#[actix_web::test]
async fn sign_out_then_sign_in_again() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Linus").await;

    let res = user.browser.post_form("/sign-out", &[]).await;
    assert_redirect_to(&res, "/sign-in?signed_out=1");
    let (_, body) = user.browser.get_page("/sign-in?signed_out=1").await;
    assert!(body.contains("You are signed out."));
    let res = user.browser.get("/").await;
    assert_redirect_to(&res, "/sign-in");

    let res = user
        .browser
        .sign_in(&user.email.to_uppercase(), PASSWORD)
        .await;
    assert_redirect_to(&res, "/");
    let res = user.browser.get("/").await;
    assert_redirect_to(&res, &format!("/accounts/{}", user.personal_account_id));
}

#[actix_web::test]
async fn sign_in_brings_the_user_back_to_the_page_they_asked_for() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Back").await;
    user.browser.post_form("/sign-out", &[]).await;
    let page = format!("/accounts/{}", user.personal_account_id);

    let res = user.browser.get(&page).await;
    assert_redirect_to(
        &res,
        &format!("/sign-in?next=%2Faccounts%2F{}", user.personal_account_id),
    );
    let res = user
        .browser
        .post_form(
            "/sign-in",
            &[
                ("email", &user.email),
                ("password", PASSWORD),
                ("next", &page),
            ],
        )
        .await;
    assert_redirect_to(&res, &page);
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Known").await;

    let wrong = app
        .browser()
        .sign_in(&user.email, "not the password at all")
        .await;
    let unknown = app
        .browser()
        .sign_in("nobody@example.com", "not the password at all")
        .await;

    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert_eq!(wrong.status(), unknown.status());
    let strip = |body: String, email: &str| {
        // Only the echoed email and the per-session CSRF token may differ.
        let body = body.replace(email, "EMAIL");
        let token = crate::support::csrf_in(&body).unwrap();
        body.replace(&token, "TOKEN")
    };
    let wrong_body = strip(wrong.text().await.unwrap(), &user.email);
    let unknown_body = strip(unknown.text().await.unwrap(), "nobody@example.com");
    assert_eq!(wrong_body, unknown_body);
    assert!(wrong_body.contains("The email or password is not right."));
}

#[actix_web::test]
async fn repeated_failures_are_throttled_with_429_and_retry_after() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Throttled").await;
    let attacker = app.browser();
    for _ in 0..5 {
        let res = attacker
            .sign_in(&user.email, "wrong password attempt")
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    // Even the right password is refused while the account is locked.
    let res = attacker.sign_in(&user.email, PASSWORD).await;

    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry));
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Too many failed sign-in attempts")
    );
    let failures = audit_actions(&mut app.conn())
        .iter()
        .filter(|a| *a == "user.sign_in_failed")
        .count();
    assert_eq!(failures, 5);
}

#[actix_web::test]
async fn unknown_emails_are_throttled_too() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for _ in 0..5 {
        browser
            .sign_in("ghost@example.com", "wrong password attempt")
            .await;
    }
    let res = browser
        .sign_in("ghost@example.com", "wrong password attempt")
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn failures_from_one_ip_are_throttled_across_emails() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for i in 0..team_console::accounts::throttle::IP_LIMIT {
        let res = browser
            .sign_in(&format!("spray{i}@example.com"), "wrong password attempt")
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let res = browser
        .sign_in("fresh@example.com", "wrong password attempt")
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// X-Forwarded-For is forgeable: it is ignored unless it comes from the
/// configured proxy.
#[actix_web::test]
async fn x_forwarded_for_is_believed_only_from_the_trusted_proxy() {
    use diesel::prelude::*;
    use team_console::db::schema::audit_entries as a;
    let ip_of_last_sign_up = |app: &TestApp| -> Option<String> {
        a::table
            .filter(a::action.eq("user.signed_up"))
            .order(a::id.desc())
            .select(a::ip)
            .first(&mut app.conn())
            .unwrap()
    };
    let sign_up = |app: &TestApp| {
        let browser = app.browser();
        async move {
            let token = browser.csrf().await;
            browser
                .client
                .post(browser.url("/sign-up"))
                .header("x-forwarded-for", "203.0.113.9")
                .form(&[
                    (
                        "email",
                        format!("{}@example.com", uuid::Uuid::new_v4().simple()).as_str(),
                    ),
                    ("display_name", "Proxied"),
                    ("password", PASSWORD),
                    ("csrf_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    let direct = TestApp::spawn().await;
    sign_up(&direct).await;
    assert_eq!(ip_of_last_sign_up(&direct).as_deref(), Some("127.0.0.1"));

    let server = crate::support::Server::get();
    let db = server.create_database();
    let mut settings = crate::support::test_settings(server.serving_url(&db));
    settings.trusted_proxy = Some("127.0.0.1".parse().unwrap());
    let proxied = TestApp::spawn_with(settings, db).await;
    sign_up(&proxied).await;
    assert_eq!(ip_of_last_sign_up(&proxied).as_deref(), Some("203.0.113.9"));
}
