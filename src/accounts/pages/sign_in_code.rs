//! The second step of signing in, for users with two-factor sign-in: the
//! password was right, the session holds a half-done sign-in (not signed
//! in: no other page lets it in), and this page asks for a code from the
//! authenticator app or a recovery code. The half-done step lasts
//! `PENDING_LIFETIME`; wrong codes are throttled per user.

use crate::web::session_store::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use crate::AppState;
use crate::accounts::models;
use crate::accounts::two_factor::{self, Checked, Factor};
use crate::accounts::users;
use crate::audit::{Origin, Stage};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::session::{self, FlashLevel, PendingSignIn};
use crate::web::{self as w};

/// How long the code page waits after the password.
pub const PENDING_LIFETIME: Duration = Duration::minutes(5);

#[derive(Template)]
#[template(path = "accounts/sign_in_code.html")]
struct CodePage {
    layout: Layout,
    error: Option<String>,
}

/// The half-done sign-in, if there is one still in time; an expired one
/// is forgotten (with a word on the sign-in page).
fn pending(session: &Session, now: OffsetDateTime) -> Option<PendingSignIn> {
    let pending = session::pending_sign_in(session)?;
    let started = OffsetDateTime::from_unix_timestamp(pending.started_at).ok()?;
    if now - started >= PENDING_LIFETIME || now < started {
        session::forget_pending_sign_in(session);
        session::flash(
            session,
            FlashLevel::Info,
            "The sign-in took too long. Enter your email and password again.",
        );
        return None;
    }
    Some(pending)
}

pub async fn form(state: web::Data<AppState>, session: Session) -> AppResult<HttpResponse> {
    if pending(&session, state.clock.now()).is_none() {
        return Ok(w::see_other("/sign-in"));
    }
    w::page(&CodePage {
        layout: Layout::public(&session)?,
        error: None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    pub code: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    origin: Origin,
    form: web::Form<CodeForm>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let Some(pending) = pending(&session, now) else {
        return Ok(w::see_other("/sign-in"));
    };
    let user_id = pending.user_id;
    let user = state
        .db(move |conn| models::find_user(conn, user_id))
        .await?;
    let Some(user) = user.filter(|u| u.has_two_factor()) else {
        session::forget_pending_sign_in(&session);
        return Ok(w::see_other("/sign-in"));
    };
    let (keys, code, client, who) = (
        state.two_factor.clone(),
        form.into_inner().code,
        origin.clone(),
        user.clone(),
    );
    let checked = state
        .db(move |conn| two_factor::check(conn, &keys, &who, &code, Stage::SignIn, &client, now))
        .await?;
    let factor = match checked {
        Checked::Passed(factor) => factor,
        Checked::Wrong => {
            let page = CodePage {
                layout: Layout::public(&session)?,
                error: Some(
                    "That code is not right. Enter the 6-digit code your app shows now, or a recovery code."
                        .into(),
                ),
            };
            return w::render(StatusCode::BAD_REQUEST, &page);
        }
        Checked::Locked { retry_after } => {
            let minutes = retry_after.div_ceil(60);
            let page = CodePage {
                layout: Layout::public(&session)?,
                error: Some(format!(
                    "Too many wrong codes. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )),
            };
            let mut res = w::render(StatusCode::TOO_MANY_REQUESTS, &page)?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(res);
        }
    };
    let (signed, outbox) = (user.clone(), state.outbox.clone());
    let left = state
        .db(move |conn| {
            users::signed_in(conn, &signed, &origin, Some(factor), now, &outbox)?;
            two_factor::recovery_codes_left(conn, signed.id)
        })
        .await?;
    session::sign_in(&session, user.id, now)?;
    if factor == Factor::RecoveryCode {
        session::flash(
            &session,
            FlashLevel::Info,
            format!(
                "You signed in with a recovery code: {left} left. Lost your phone? Turn two-factor authentication off and on again from your profile to use a new one."
            ),
        );
    }
    let next = if pending.next.is_empty() {
        "/".to_string()
    } else {
        pending.next
    };
    Ok(w::see_other(&next))
}
