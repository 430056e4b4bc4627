use diesel::prelude::*;
use reqwest::StatusCode;

use crate::support::TestApp;

/// Every POST route of the pages, with its path parameters filled in
/// (the JSON API's take a bearer key and no cookie: see below).
fn post_routes() -> Vec<String> {
    team_console::routes::all()
        .into_iter()
        .filter(|r| r.method == "POST" && !team_console::api::is_api(r.path))
        .map(|r| fill_params(r.path))
        .collect()
}

/// The CSRF check skips the JSON API because a cookie gets nothing there:
/// a signed-in browser's state-changing request, even with its valid
/// token, is 401 without a key.
#[actix_web::test]
async fn the_apis_changes_need_a_key_and_a_session_gets_nothing() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Csrf Api").await;
    let token = user.browser.csrf().await;
    let routes: Vec<_> = team_console::routes::all()
        .into_iter()
        .filter(|r| r.method != "GET" && team_console::api::is_api(r.path))
        .collect();
    assert!(routes.len() >= 4);

    for route in routes {
        let path = fill_params(
            &route
                .path
                .replace("{account_id}", &user.personal_account_id.to_string()),
        );
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let res = user
            .browser
            .client
            .request(method, user.browser.url(&path))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{} {path}",
            route.method
        );
    }
}

fn fill_params(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[actix_web::test]
async fn every_post_route_refuses_a_missing_or_wrong_csrf_token() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Csrf").await;
    let token = user.browser.csrf().await;
    assert!(!post_routes().is_empty());

    for path in post_routes() {
        let res = user.browser.post_raw(&path, &[("x", "1")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "no token: {path}");
        let res = user
            .browser
            .post_raw(&path, &[("csrf_token", "forged")])
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "wrong token: {path}");
        // A token from another session is just as wrong.
        let other = app.browser();
        let other_token = other.csrf().await;
        let res = user
            .browser
            .post_raw(&path, &[("csrf_token", other_token.as_str())])
            .await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "someone else's token: {path}"
        );
        let res = user
            .browser
            .client
            .post(user.browser.url(&path))
            .header("sec-fetch-site", "cross-site")
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "cross-site: {path}");
        let res = user
            .browser
            .client
            .post(user.browser.url(&path))
            .header("origin", "https://evil.example")
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "foreign origin: {path}"
        );
    }
}

#[actix_web::test]
async fn the_right_token_from_the_same_origin_is_accepted() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Origin").await;
    let token = user.browser.csrf().await;
    let res = user
        .browser
        .client
        .post(user.browser.url("/sign-out"))
        .header("origin", app.address.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[track_caller]
fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    let get = |name: &str| {
        h.get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        get("content-security-policy"),
        team_console::web::headers::CONTENT_SECURITY_POLICY
    );
    assert_eq!(get("x-content-type-options"), "nosniff");
    assert_eq!(get("x-frame-options"), "DENY");
    assert_eq!(get("referrer-policy"), "same-origin");
    assert_eq!(get("cross-origin-opener-policy"), "same-origin");
    assert!(!get("permissions-policy").is_empty());
    assert!(h.get("server").is_none(), "no Server header");
}

#[actix_web::test]
async fn security_headers_are_on_a_200_a_404_and_a_500() {
    let app = TestApp::spawn().await;
    let browser = app.browser();

    let ok = browser.get("/sign-in").await;
    assert_eq!(ok.status(), StatusCode::OK);
    browser.csrf().await;
    assert_security_headers(&ok);
    assert_eq!(ok.headers()["cache-control"], "no-store");

    let missing = browser.get("/no/such/page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&missing);
    assert!(missing.text().await.unwrap().contains("Page not found"));

    // Break the database under the app: the next sign-in is a real 500.
    diesel::sql_query("ALTER TABLE users RENAME TO users_gone")
        .execute(&mut app.conn())
        .unwrap();
    let failed = browser
        .sign_in("someone@example.com", "whatever password")
        .await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_security_headers(&failed);
    let body = failed.text().await.unwrap();
    assert!(body.contains("Something went wrong"));
    assert!(body.contains("Reference:"), "a request id to quote");
    assert!(!body.contains("users"), "the cause is logged, not shown");
}

#[actix_web::test]
async fn static_files_carry_the_headers_too_and_are_cacheable() {
    let app = TestApp::spawn().await;
    let res = app.browser().get("/static/app.css").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_security_headers(&res);
    assert_eq!(res.headers()["cache-control"], "public, max-age=3600");
}

#[actix_web::test]
async fn actix_own_errors_get_the_html_error_page() {
    let app = TestApp::spawn().await;
    let browser = app.browser();

    let res = browser.get("/sign-out").await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap().contains("Method not allowed"));

    let res = browser.get("/accounts/not-a-uuid").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "signed out: sign in first"
    );

    // A form body that is not a form at all.
    let token = browser.csrf().await;
    let res = browser
        .client
        .post(browser.url("/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&email=%ZZ"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("<html"));
}
