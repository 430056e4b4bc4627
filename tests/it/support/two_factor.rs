//! Helpers for two-factor sign-in: what an authenticator app does (read
//! the key from the set-up page, compute codes) and the steps of signing
//! in with a code.

use reqwest::StatusCode;
use team_console::accounts::two_factor::{DIGITS, code_at};
use time::OffsetDateTime;

use super::{Browser, PASSWORD, TestUser, assert_redirect_to};

/// What an authenticator app keeps: the secret it scanned.
pub struct App {
    pub secret: Vec<u8>,
}

impl App {
    /// The code the app shows at `now`, `steps` steps of 30 s off.
    pub fn code(&self, now: OffsetDateTime, steps: i64) -> String {
        let seconds = now.unix_timestamp() + steps * 30;
        code_at(&self.secret, seconds as u64, DIGITS)
    }
}

/// The key shown on the set-up page, as typed into an app.
pub fn secret_on(page: &str) -> Vec<u8> {
    let marker = "<code id=\"totp-secret\" class=\"secret\">";
    let start = page.find(marker).expect("the key on the set-up page") + marker.len();
    let end = page[start..].find("</code>").unwrap() + start;
    let text: String = page[start..end].split_whitespace().collect();
    totp_rs::Secret::Encoded(text).to_bytes().expect("base32")
}

/// The recovery codes shown once after set-up.
pub fn recovery_codes_on(page: &str) -> Vec<String> {
    let marker = "<pre id=\"recovery-codes\" class=\"recovery-codes\">";
    let start = page.find(marker).expect("recovery codes on the page") + marker.len();
    let end = page[start..].find("</pre>").unwrap() + start;
    page[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Turns two-factor sign-in on through the pages at `now`; returns the
/// app and the recovery codes.
pub async fn enable(user: &TestUser, now: OffsetDateTime) -> (App, Vec<String>) {
    let (status, page) = user.browser.get_page("/profile/two-factor").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let app = App {
        secret: secret_on(&page),
    };
    let res = user
        .browser
        .post_form("/profile/two-factor", &[("code", &app.code(now, 0))])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    user.browser.remember_csrf(&page);
    let codes = recovery_codes_on(&page);
    assert_eq!(codes.len(), 10, "{page}");
    (app, codes)
}

/// Signs out, then in with the password: the code page is next.
pub async fn password_step(browser: &Browser, email: &str) {
    browser.post_form("/sign-out", &[]).await;
    let res = browser.sign_in(email, PASSWORD).await;
    assert_redirect_to(&res, "/sign-in/two-factor");
    let (status, _) = browser.get_page("/sign-in/two-factor").await;
    assert_eq!(status, StatusCode::OK);
}

/// Sends `code` on the code page.
pub async fn send_code(browser: &Browser, code: &str) -> reqwest::Response {
    browser
        .post_form("/sign-in/two-factor", &[("code", code)])
        .await
}
