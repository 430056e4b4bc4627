//! Two-factor sign-in (issue 15): set-up from the profile, sign-in in two
//! steps, codes accepted once and within one step of drift, throttling,
//! recovery codes. The app runs on a manual clock, so codes are computed
//! for exact steps.

use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::db::schema::{recovery_codes, users};
use time::Duration;

use crate::support::two_factor::{enable, password_step, send_code};
use crate::support::{PASSWORD, TestApp, assert_redirect_to, audit_actions, location, logs};

#[actix_web::test]
async fn a_user_sets_up_two_factor_and_signs_in_with_a_code() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Tess Totp").await;
    let (status, profile) = user.browser.get_page("/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(profile.contains("Set up two-factor authentication"));

    let (phone, codes) = enable(&user, hand.now()).await;
    let (_, profile) = user.browser.get_page("/profile").await;
    assert!(
        profile.contains("Recovery codes left: <strong>10</strong>"),
        "{profile}"
    );

    hand.advance(Duration::seconds(30));
    password_step(&user.browser, &user.email).await;
    let res = send_code(&user.browser, &phone.code(hand.now(), 0)).await;
    assert_redirect_to(&res, "/");
    let res = user.browser.get("/").await;
    assert_redirect_to(&res, &format!("/accounts/{}", user.personal_account_id));

    let actions = audit_actions(&mut app.conn());
    assert!(actions.contains(&"user.two_factor_enabled".to_string()));
    let second_factors: Vec<serde_json::Value> = {
        use team_console::db::schema::audit_entries as a;
        a::table
            .filter(a::action.eq("user.signed_in"))
            .select(a::details)
            .load(&mut app.conn())
            .unwrap()
    };
    assert_eq!(
        second_factors.last(),
        Some(&serde_json::json!({"second_factor": "code"}))
    );
    assert_eq!(codes.len(), 10);
}

#[actix_web::test]
async fn the_half_signed_in_session_reaches_no_page_but_the_code_page() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Half Way").await;
    enable(&user, hand.now()).await;
    password_step(&user.browser, &user.email).await;

    let public = [
        "/sign-up",
        "/sign-in",
        "/sign-in/two-factor",
        "/forgot-password",
        "/reset-password/{token}",
        "/healthz",
        "/readyz",
        "/static/{file}",
        "/invites/{token}",
        "/invite",
        "/api/v1/openapi.json",
    ];
    let account = user.personal_account_id.to_string();
    for route in team_console::routes::all() {
        if route.method != "GET" || public.contains(&route.path) {
            continue;
        }
        let path = route
            .path
            .replace("{account_id}", &account)
            .replace("{pod_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{user_id}", &user.user_id.to_string())
            .replace("{invite_id}", &uuid::Uuid::new_v4().to_string());
        let res = user.browser.get(&path).await;
        if team_console::api::is_api(route.path) {
            // The JSON API knows no sessions: a key or 401.
            assert_eq!(res.status(), 401, "GET {path}");
            continue;
        }
        assert!(
            res.status().is_redirection() && location(&res).starts_with("/sign-in"),
            "GET {path}: {} to {:?}",
            res.status(),
            location(&res)
        );
    }
    let res = user
        .browser
        .post_form(&format!("/accounts/{account}/convert"), &[("name", "X")])
        .await;
    assert!(location(&res).starts_with("/sign-in"), "a POST too");

    // Five minutes later the half-done step is gone.
    hand.advance(Duration::minutes(5));
    let res = user.browser.get("/sign-in/two-factor").await;
    assert_redirect_to(&res, "/sign-in");
    let (_, page) = user.browser.get_page("/sign-in").await;
    assert!(page.contains("The sign-in took too long"));
}

#[actix_web::test]
async fn a_code_is_accepted_once_and_within_one_step_of_drift() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Drift").await;
    let (phone, _) = enable(&user, hand.now()).await;
    hand.advance(Duration::minutes(2));
    let now = hand.now();

    password_step(&user.browser, &user.email).await;
    for steps in [-2, 2] {
        let res = send_code(&user.browser, &phone.code(now, steps)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{steps} steps off");
    }
    let res = send_code(&user.browser, &phone.code(now, -1)).await;
    assert_redirect_to(&res, "/");

    // The same code again, within its window: refused.
    password_step(&user.browser, &user.email).await;
    let res = send_code(&user.browser, &phone.code(now, -1)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a code works once");
    let res = send_code(&user.browser, &phone.code(now, 1)).await;
    assert_redirect_to(&res, "/");
    // Nothing older than the last code used, even unused.
    password_step(&user.browser, &user.email).await;
    let res = send_code(&user.browser, &phone.code(now, 0)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let failed = audit_actions(&mut app.conn())
        .iter()
        .filter(|a| *a == "user.two_factor_failed")
        .count();
    assert_eq!(failed, 4);
}

#[actix_web::test]
async fn wrong_codes_are_throttled_per_user_with_429_and_retry_after() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Guesser").await;
    let (phone, _) = enable(&user, hand.now()).await;
    hand.advance(Duration::seconds(30));
    password_step(&user.browser, &user.email).await;
    for _ in 0..5 {
        let res = send_code(&user.browser, "000000").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    // Even the right code waits, from another browser too.
    let res = send_code(&user.browser, &phone.code(hand.now(), 0)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry));
    assert!(res.text().await.unwrap().contains("Too many wrong codes"));
    let elsewhere = app.browser();
    password_step(&elsewhere, &user.email).await;
    let res = send_code(&elsewhere, &phone.code(hand.now(), 0)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    hand.advance(Duration::seconds(31));
    let res = send_code(&elsewhere, &phone.code(hand.now(), 0)).await;
    assert_redirect_to(&res, "/");
}

#[actix_web::test]
async fn a_recovery_code_works_once_in_place_of_a_code() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Lost Phone").await;
    let (_, codes) = enable(&user, hand.now()).await;

    password_step(&user.browser, &user.email).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let res = send_code(&user.browser, &typed).await;
    assert_redirect_to(&res, "/");
    let (_, page) = user
        .browser
        .get_page(&format!("/accounts/{}", user.personal_account_id))
        .await;
    assert!(
        page.contains("You signed in with a recovery code: 9 left"),
        "{page}"
    );

    password_step(&user.browser, &user.email).await;
    let res = send_code(&user.browser, &codes[3]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "used once");
    let res = send_code(&user.browser, &codes[4]).await;
    assert_redirect_to(&res, "/");

    let actions = audit_actions(&mut app.conn());
    let used = actions
        .iter()
        .filter(|a| *a == "user.recovery_code_used")
        .count();
    assert_eq!(used, 2);
    let left: i64 = recovery_codes::table
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 8);
}

#[actix_web::test]
async fn new_recovery_codes_replace_the_old_ones() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Regenerate").await;
    let (_, old) = enable(&user, hand.now()).await;

    let res = user.browser.post_form("/profile/recovery-codes", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let new = crate::support::two_factor::recovery_codes_on(&page);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));

    password_step(&user.browser, &user.email).await;
    let res = send_code(&user.browser, &old[0]).await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the old ones are dead"
    );
    let res = send_code(&user.browser, &new[0]).await;
    assert_redirect_to(&res, "/");
}

#[actix_web::test]
async fn the_secret_is_sealed_at_rest_and_never_logged() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Sealed").await;
    let (phone, codes) = enable(&user, hand.now()).await;

    let sealed: Option<Vec<u8>> = users::table
        .find(user.user_id)
        .select(users::totp_secret)
        .first(&mut app.conn())
        .unwrap();
    let sealed = sealed.expect("a sealed secret");
    assert!(
        !sealed
            .windows(phone.secret.len())
            .any(|w| w == phone.secret),
        "not in clear"
    );
    let text = team_console::accounts::two_factor::secret_text(&phone.secret);
    let hashes: Vec<Vec<u8>> = recovery_codes::table
        .select(recovery_codes::code_hash)
        .load(&mut app.conn())
        .unwrap();
    for code in &codes {
        let plain = code.replace('-', "");
        assert!(
            hashes
                .iter()
                .all(|h| !h.windows(plain.len()).any(|w| w == plain.as_bytes()))
        );
        assert!(!hashes.contains(&team_console::tokens::sha256(&plain)));
    }
    // Set up once: the page no longer shows it.
    let res = user.browser.get("/profile/two-factor").await;
    assert_redirect_to(&res, "/profile");
    let (_, profile) = user.browser.get_page("/profile").await;
    assert!(!profile.contains(&text[..16]));
    let logs = logs();
    assert!(!logs.contains(&text[..16]), "the secret is never logged");
    assert!(codes.iter().all(|c| !logs.contains(c.as_str())));
}

#[actix_web::test]
async fn turning_two_factor_off_signs_in_with_the_password_alone() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("Off Again").await;
    enable(&user, hand.now()).await;

    let res = user
        .browser
        .post_form("/profile/two-factor/disable", &[])
        .await;
    assert_redirect_to(&res, "/profile#two-factor");
    user.browser.post_form("/sign-out", &[]).await;
    let res = user.browser.sign_in(&user.email, PASSWORD).await;
    assert_redirect_to(&res, "/");
    let left: i64 = recovery_codes::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
    assert!(audit_actions(&mut app.conn()).contains(&"user.two_factor_disabled".to_string()));
}

#[actix_web::test]
async fn a_wrong_first_code_does_not_turn_it_on() {
    let (app, hand) = TestApp::spawn_with_clock().await;
    let user = app.signed_up_user("First Code").await;
    let (_, page) = user.browser.get_page("/profile/two-factor").await;
    let secret = crate::support::two_factor::secret_on(&page);
    // Reloading keeps the same key (the app may have scanned it already).
    let (_, again) = user.browser.get_page("/profile/two-factor").await;
    assert_eq!(crate::support::two_factor::secret_on(&again), secret);
    assert!(
        again.contains("<svg class=\"qr\""),
        "a QR code drawn in the page"
    );

    let res = user
        .browser
        .post_form("/profile/two-factor", &[("code", "123456")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let enabled: Option<time::OffsetDateTime> = users::table
        .find(user.user_id)
        .select(users::totp_enabled_at)
        .first(&mut app.conn())
        .unwrap();
    assert!(enabled.is_none());
    let _ = hand;
}
