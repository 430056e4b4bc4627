use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::db::schema::sessions;

use crate::support::{Browser, PASSWORD, TestApp, assert_redirect_to};

/// A request carrying exactly `cookie`, from a client with no jar.
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{}", app.address, path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_session_cookie_is_renewed_at_sign_in_and_the_old_one_is_useless() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Fixation").await;
    user.browser.post_form("/sign-out", &[]).await;
    let browser = Browser::new(&app.address);
    browser.get_page("/sign-in").await;
    let before = browser
        .cookie_header()
        .expect("a session cookie before sign-in");

    let res = browser.sign_in(&user.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let after = browser
        .cookie_header()
        .expect("a session cookie after sign-in");

    assert_ne!(before, after, "sign-in issues a new session cookie");
    let res = get_with_cookie(&app, "/", &before).await;
    assert_redirect_to(&res, "/sign-in");
    let res = get_with_cookie(&app, "/", &after).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/accounts/")
    );
}

#[actix_web::test]
async fn cookie_attributes_are_httponly_samesite_lax_path_root() {
    let app = TestApp::spawn().await;
    let res = app.browser().get("/sign-in").await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
}

#[actix_web::test]
async fn a_replayed_cookie_after_sign_out_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Replay").await;
    let cookie = user.browser.cookie_header().unwrap();

    user.browser.post_form("/sign-out", &[]).await;

    let res = get_with_cookie(
        &app,
        &format!("/accounts/{}", user.personal_account_id),
        &cookie,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
    let left: i64 = sessions::table
        .filter(sessions::user_id.eq(user.user_id))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0, "sign-out deletes the session server-side");
}

#[actix_web::test]
async fn an_idle_session_expires() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Idle").await;
    let page = format!("/accounts/{}", user.personal_account_id);
    assert_eq!(user.browser.get(&page).await.status(), StatusCode::OK);

    // 31 minutes without a request.
    diesel::sql_query("UPDATE sessions SET expires_at = now() - interval '1 minute'")
        .execute(&mut app.conn())
        .unwrap();

    let res = user.browser.get(&page).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
}

#[actix_web::test]
async fn activity_pushes_the_idle_deadline_back() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Active").await;
    diesel::sql_query("UPDATE sessions SET expires_at = now() + interval '2 minutes'")
        .execute(&mut app.conn())
        .unwrap();

    let res = user
        .browser
        .get(&format!("/accounts/{}", user.personal_account_id))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let remaining: f64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Double>(
        "extract(epoch from (SELECT max(expires_at) FROM sessions) - now())::float8",
    ))
    .get_result(&mut app.conn())
    .unwrap();
    assert!(
        remaining > 25.0 * 60.0,
        "deadline rolled to ~30 min, got {remaining}s"
    );
}

#[actix_web::test]
async fn a_session_ends_after_its_absolute_lifetime_even_when_active() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Absolute").await;
    let page = format!("/accounts/{}", user.personal_account_id);

    // Signed in 12 hours ago, active a minute ago.
    diesel::sql_query("UPDATE sessions SET absolute_expires_at = now() - interval '1 second'")
        .execute(&mut app.conn())
        .unwrap();

    let res = user.browser.get(&page).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in")
    );
}

#[actix_web::test]
async fn sessions_survive_a_console_restart() {
    let server = crate::support::Server::get();
    let db_name = server.create_database();
    let settings = crate::support::test_settings(server.serving_url(&db_name));
    let first = TestApp::spawn_with(settings.clone(), String::new()).await;
    let user = first.signed_up_user("Restart").await;
    let cookie = user.browser.cookie_header().unwrap();
    first.stop();

    let second = TestApp::spawn_with(settings, db_name).await;
    let res = get_with_cookie(
        &second,
        &format!("/accounts/{}", user.personal_account_id),
        &cookie,
    )
    .await;

    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn secure_mode_uses_a_host_prefixed_secure_cookie_and_hsts() {
    let server = crate::support::Server::get();
    let db = server.create_database();
    let mut settings = crate::support::test_settings(server.serving_url(&db));
    settings.cookie_secure = Some(true);
    let app = TestApp::spawn_with(settings, db).await;

    let res = app.browser().get("/sign-in").await;

    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "__Host- cookies have no Domain");
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[actix_web::test]
async fn plain_http_mode_sends_no_hsts() {
    let app = TestApp::spawn().await;
    let res = app.browser().get("/sign-in").await;
    assert!(res.headers().get("strict-transport-security").is_none());
}
