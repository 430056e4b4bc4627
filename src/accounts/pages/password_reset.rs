//! "Forgot password?": the form asking for the email (always the same
//! answer, throttled), and the page a reset link opens, which sets the
//! new password (with a second factor when the person has two-factor
//! sign-in). The token stays in the link's path; these pages send
//! `Referrer-Policy: no-referrer` (web/headers.rs).

use crate::web::session_store::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::reset::{self, Requested};
use crate::accounts::two_factor::{self, Checked};
use crate::accounts::{AccountsError, passwords};
use crate::audit::{Origin, Stage};
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::{self as w};

#[derive(Template)]
#[template(path = "accounts/forgot_password.html")]
struct ForgotPage {
    layout: Layout,
    email: String,
    error: Option<String>,
    /// The answer, once asked.
    sent: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ForgotForm {
    pub email: String,
}

pub async fn forgot_form(session: Session) -> AppResult<HttpResponse> {
    w::page(&ForgotPage {
        layout: Layout::public(&session)?,
        email: String::new(),
        error: None,
        sent: false,
    })
}

/// The same page, status and words for every email, registered or not.
pub async fn forgot_submit(
    state: web::Data<AppState>,
    session: Session,
    origin: Origin,
    form: web::Form<ForgotForm>,
) -> AppResult<HttpResponse> {
    let email = form.into_inner().email.trim().to_string();
    let page = |error: Option<String>, sent: bool, session: &Session| -> AppResult<ForgotPage> {
        Ok(ForgotPage {
            layout: Layout::public(session)?,
            email: email.clone(),
            error,
            sent,
        })
    };
    if email.is_empty() {
        let error = Some("Enter the email you sign in with.".to_string());
        return w::render(StatusCode::BAD_REQUEST, &page(error, false, &session)?);
    }
    let now = state.clock.now();
    let (asked, outbox) = (email.clone(), state.outbox.clone());
    let requested = state
        .db(move |conn| reset::request(conn, &asked, &origin, now, &outbox))
        .await?;
    match requested {
        Requested::Answered => w::page(&page(None, true, &session)?),
        Requested::Throttled { retry_after } => {
            let minutes = retry_after.div_ceil(60);
            let error = format!(
                "Too many reset links were asked for. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut res = w::render(
                StatusCode::TOO_MANY_REQUESTS,
                &page(Some(error), false, &session)?,
            )?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(res)
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/reset_password.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    /// The person has two-factor sign-in: a code is asked too.
    needs_code: bool,
    password_error: Option<String>,
    code_error: Option<String>,
    /// Set once the new password is in.
    done: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResetForm {
    pub password: String,
    pub code: String,
}

/// Tokens are 43 characters; anything much longer is not one.
fn plausible(token: &str) -> bool {
    token.len() <= 128
}

fn unusable() -> AppError {
    AccountsError::ResetLinkUnusable.into()
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let token = path.into_inner();
    if !plausible(&token) {
        return Err(unusable());
    }
    let now = state.clock.now();
    let lookup = token.clone();
    let user = state
        .db(move |conn| reset::open(conn, &lookup, now))
        .await?
        .ok_or_else(unusable)?;
    w::page(&ResetPage {
        layout: Layout::public(&session)?,
        token,
        needs_code: user.has_two_factor(),
        password_error: None,
        code_error: None,
        done: false,
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    origin: Origin,
    path: web::Path<String>,
    form: web::Form<ResetForm>,
) -> AppResult<HttpResponse> {
    let token = path.into_inner();
    if !plausible(&token) {
        return Err(unusable());
    }
    let form = form.into_inner();
    let now = state.clock.now();
    let lookup = token.clone();
    let user = state
        .db(move |conn| reset::open(conn, &lookup, now))
        .await?
        .ok_or_else(unusable)?;
    let mut page = ResetPage {
        layout: Layout::public(&session)?,
        token: token.clone(),
        needs_code: user.has_two_factor(),
        password_error: None,
        code_error: None,
        done: false,
    };
    if let Err(e) = passwords::check_strength(&form.password, &[&user.email, &user.display_name]) {
        page.password_error = Some(e);
        return w::render(StatusCode::BAD_REQUEST, &page);
    }
    if user.has_two_factor() {
        let code = form.code.trim().to_string();
        if code.is_empty() {
            page.code_error = Some(
                "Enter the code your authenticator app shows, or one of your recovery codes."
                    .into(),
            );
            return w::render(StatusCode::BAD_REQUEST, &page);
        }
        let (keys, client, who) = (state.two_factor.clone(), origin.clone(), user.clone());
        let checked = state
            .db(move |conn| {
                two_factor::check(conn, &keys, &who, &code, Stage::PasswordReset, &client, now)
            })
            .await?;
        match checked {
            Checked::Passed(_) => {}
            Checked::Wrong => {
                page.code_error = Some(
                    "That code is not right. Enter the 6-digit code your app shows now, or a recovery code."
                        .into(),
                );
                return w::render(StatusCode::BAD_REQUEST, &page);
            }
            Checked::Locked { retry_after } => {
                let minutes = retry_after.div_ceil(60);
                page.code_error = Some(format!(
                    "Too many wrong codes. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ));
                let mut res = w::render(StatusCode::TOO_MANY_REQUESTS, &page)?;
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return Ok(res);
            }
        }
    }
    let hash = state.passwords.hash(form.password).await?;
    let outbox = state.outbox.clone();
    state
        .db(move |conn| reset::complete(conn, &token, &hash, &origin, now, &outbox))
        .await?;
    // Whoever this browser was signed in as, it is signed out now (the
    // person's own sessions are gone from the database already).
    session.purge();
    page.layout = Layout::public(&session)?;
    page.done = true;
    w::page(&page)
}
