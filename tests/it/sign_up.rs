use reqwest::StatusCode;

use crate::support::{PASSWORD, TestApp, audit_actions, location};

#[actix_web::test]
async fn sign_up_creates_a_personal_account_shown_in_the_switcher() {
    let app = TestApp::spawn().await;

    let user = app.signed_up_user("Ada Lovelace").await;

    let (status, body) = user
        .browser
        .get_page(&format!("/accounts/{}", user.personal_account_id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Welcome to Team Console, Ada Lovelace."));
    assert!(
        body.contains("Personal account"),
        "the switcher lists the personal account"
    );
    assert!(body.contains("Convert to Team Account"));
}

#[actix_web::test]
async fn duplicate_email_in_another_case_is_refused_with_409() {
    let app = TestApp::spawn().await;
    let first = app.signed_up_user("Grace").await;

    let browser = app.browser();
    let res = browser
        .post_form(
            "/sign-up",
            &[
                ("email", &first.email.to_uppercase()),
                ("display_name", "Someone Else"),
                ("password", PASSWORD),
            ],
        )
        .await;

    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body = res.text().await.unwrap();
    assert!(body.contains("No new account can be made with this email"));
    assert!(body.contains("sign in instead"));
    assert!(
        body.contains("Someone Else"),
        "the form keeps what was typed"
    );
}

#[actix_web::test]
async fn weak_short_and_too_long_passwords_are_refused() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(129);
    for (password, message) in [
        ("password1234", "too easy to guess"),
        ("short", "at least 12 characters"),
        (long.as_str(), "at most 128 characters"),
    ] {
        let browser = app.browser();
        let res = browser
            .post_form(
                "/sign-up",
                &[
                    ("email", "weak@example.com"),
                    ("display_name", "Weak"),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{password}");
        let body = res.text().await.unwrap();
        assert!(body.contains(message), "{message} not in page");
        assert!(body.contains("weak@example.com"), "email kept");
    }
    let mut conn = app.conn();
    assert!(audit_actions(&mut conn).is_empty(), "nothing was created");
}

#[actix_web::test]
async fn invalid_email_and_empty_name_show_field_messages() {
    let app = TestApp::spawn().await;
    let res = app
        .browser()
        .post_form(
            "/sign-up",
            &[
                ("email", "not-an-email"),
                ("display_name", "  "),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("Enter a valid email address"));
    assert!(body.contains("Enter a display name"));
}

#[actix_web::test]
async fn sign_up_returns_to_a_local_next_path_only() {
    let app = TestApp::spawn().await;
    for (next, expected_prefix) in [
        ("/accounts", "/accounts"),
        ("https://evil.example", "/accounts/"),
        ("//evil.example", "/accounts/"),
    ] {
        let res = app
            .browser()
            .post_form(
                "/sign-up",
                &[
                    (
                        "email",
                        &format!("n{}@example.com", uuid::Uuid::new_v4().simple()),
                    ),
                    ("display_name", "Next"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(
            location(&res).starts_with(expected_prefix),
            "{next} -> {}",
            location(&res)
        );
    }
}
