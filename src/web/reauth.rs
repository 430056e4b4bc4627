//! Re-authentication before dangerous actions (GitHub's "sudo mode"):
//! making someone an Admin, removing a member, changing a team's
//! two-factor rule, turning off one's own two-factor sign-in, making new
//! recovery codes. When the person last proved who they are (password or
//! code, at sign-in or here) more than `WINDOW` ago, the action's form is
//! answered with a page asking again — the password, or a code when
//! two-factor sign-in is on — that posts the same fields to the same
//! address; once the answer is right the action completes with them.
//!
//! A handler takes its form as `Submitted<F>` (the typed form, and every
//! field as sent) and calls `confirm` before acting.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use time::Duration;

use crate::AppState;
use crate::accounts::two_factor::{self, Checked};
use crate::accounts::users::{self, Attempt};
use crate::audit::{Origin, SignInFailure, Stage};
use crate::web::auth::SignedIn;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::session;

/// A check of the password or a code is good for this long.
pub const WINDOW: Duration = Duration::minutes(10);
const PASSWORD_FIELD: &str = "reauth_password";
const CODE_FIELD: &str = "reauth_code";

/// A form with no fields of its own (Remove, Turn off, ...).
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

/// A dangerous action's form as submitted: its typed fields, and every
/// field as sent, to send again once the person has confirmed.
pub struct Submitted<F> {
    pub form: F,
    /// Where the form was posted.
    path: String,
    /// Every field but the CSRF token and the confirmation's own.
    fields: Vec<(String, String)>,
    password: Option<String>,
    code: Option<String>,
}

fn unreadable(e: impl std::fmt::Display) -> AppError {
    AppError::BadRequest(format!("The form could not be read: {e}"))
}

impl<F: DeserializeOwned + 'static> FromRequest for Submitted<F> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let path = req.path().to_string();
        Box::pin(async move {
            let body = body.await.map_err(unreadable)?;
            let form: F = serde_urlencoded::from_bytes(&body).map_err(unreadable)?;
            let all: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&body).map_err(unreadable)?;
            let mut submitted = Submitted {
                form,
                path,
                fields: Vec::new(),
                password: None,
                code: None,
            };
            for (name, value) in all {
                match name.as_str() {
                    crate::web::csrf::FIELD => {}
                    PASSWORD_FIELD => submitted.password = Some(value),
                    CODE_FIELD => submitted.code = Some(value),
                    _ => submitted.fields.push((name, value)),
                }
            }
            Ok(submitted)
        })
    }
}

/// What the page asking to confirm says.
pub struct Ask {
    pub layout: Layout,
    /// What is about to happen, after "To ": "make Bob Dev an Admin".
    pub what: String,
    /// Where Cancel goes.
    pub cancel: String,
}

#[derive(Template)]
#[template(path = "reauth.html")]
struct ReauthPage {
    layout: Layout,
    what: String,
    cancel: String,
    action: String,
    fields: Vec<(String, String)>,
    two_factor: bool,
    error: Option<String>,
}

/// Whether the action may go on: `None` when the person proved who they
/// are within `WINDOW` (or just now, with the fields of the page this
/// answers); otherwise the page to answer with instead, asking them to
/// confirm (or again, saying what was wrong).
pub async fn confirm<F>(
    state: &AppState,
    signed_in: &SignedIn,
    origin: &Origin,
    submitted: &Submitted<F>,
    ask: impl FnOnce() -> AppResult<Ask>,
) -> AppResult<Option<HttpResponse>> {
    let now = state.clock.now();
    let session = &signed_in.session;
    let recent = session::verified_at(session).is_some_and(|at| now - at < WINDOW);
    if recent {
        return Ok(None);
    }
    let user = signed_in.user.clone();
    let two_factor = user.has_two_factor();
    let refused: Option<(StatusCode, String, Option<u64>)> = match (
        two_factor,
        submitted.code.clone(),
        submitted.password.clone(),
    ) {
        (true, Some(code), _) => {
            let (keys, client) = (state.two_factor.clone(), origin.clone());
            let checked = state
                .db(move |conn| {
                    two_factor::check(
                        conn,
                        &keys,
                        &user,
                        &code,
                        Stage::Reauthentication,
                        &client,
                        now,
                    )
                })
                .await?;
            match checked {
                Checked::Passed(_) => {
                    session::mark_verified(session, now)?;
                    return Ok(None);
                }
                Checked::Wrong => Some((
                    StatusCode::BAD_REQUEST,
                    "That code is not right. Enter the code your app shows now, or a recovery code."
                        .into(),
                    None,
                )),
                Checked::Locked { retry_after } => Some(too_many(retry_after)),
            }
        }
        (false, _, Some(password)) => {
            let (email, client) = (user.email.clone(), origin.clone());
            let attempt = state
                .db(move |conn| users::begin_sign_in(conn, &email, &client, now))
                .await?;
            match attempt {
                Attempt::Locked { retry_after } => Some(too_many(retry_after)),
                Attempt::Open(_) => {
                    let hash = Some(user.password_hash.clone());
                    if state.passwords.verify(password, hash).await? {
                        let client = origin.clone();
                        state
                            .db(move |conn| users::password_accepted(conn, &user, &client))
                            .await?;
                        session::mark_verified(session, now)?;
                        return Ok(None);
                    }
                    let client = origin.clone();
                    state
                        .db(move |conn| {
                            users::sign_in_failed(
                                conn,
                                &user.email,
                                &client,
                                now,
                                SignInFailure::Reauthentication,
                            )
                        })
                        .await?;
                    Some((
                        StatusCode::BAD_REQUEST,
                        "That password is not right.".into(),
                        None,
                    ))
                }
            }
        }
        _ => None,
    };
    let ask = ask()?;
    let (status, error, retry_after) = match refused {
        Some((status, error, retry_after)) => (status, Some(error), retry_after),
        None => (StatusCode::OK, None, None),
    };
    let page = ReauthPage {
        layout: ask.layout,
        what: ask.what,
        cancel: ask.cancel,
        action: submitted.path.clone(),
        fields: submitted.fields.clone(),
        two_factor,
        error,
    };
    let mut res = crate::web::render(status, &page)?;
    if let Some(seconds) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Ok(Some(res))
}

fn too_many(retry_after: u64) -> (StatusCode, String, Option<u64>) {
    let minutes = retry_after.div_ceil(60);
    (
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "Too many wrong attempts. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ),
        Some(retry_after),
    )
}
