//! Sign-in. An unknown email and a wrong password get the same page, the
//! same status and (through the dummy hash) the same work. Failures are
//! throttled per email and per client IP. A user with two-factor sign-in
//! goes on to the code page (`sign_in_code`) with a session that is not
//! signed in yet.

use crate::web::session_store::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::pages::{Joining, joining};
use crate::accounts::safe_next;
use crate::accounts::users::{self, Attempt};
use crate::audit::{Origin, SignInFailure};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignInForm {
    pub email: String,
    pub password: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "accounts/sign_in.html")]
struct SignInPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
    /// The invite this sign-in comes from.
    joining: Option<Joining>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Set by sign-out's redirect (the session, and its flashes, are gone).
    signed_out: Option<String>,
    /// Set after a person deleted their account.
    account_deleted: Option<String>,
}

pub async fn form(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    let mut layout = Layout::public(&session)?;
    if query.signed_out.is_some() {
        layout.flashes.push(crate::web::session::Flash {
            level: crate::web::session::FlashLevel::Info,
            text: "You are signed out.".into(),
        });
    }
    if query.account_deleted.is_some() {
        layout.flashes.push(crate::web::session::Flash {
            level: crate::web::session::FlashLevel::Info,
            text: "Your account is deleted and you are signed out. You can sign up again with the same email at any time."
                .into(),
        });
    }
    let next = query
        .next
        .as_deref()
        .and_then(safe_next)
        .unwrap_or_default();
    let joining = joining(&state, &session, &next).await?;
    w::page(&SignInPage {
        layout,
        email: joining
            .as_ref()
            .and_then(|j| j.email.clone())
            .unwrap_or_default(),
        next,
        error: None,
        joining,
    })
}

const WRONG: &str = "The email or password is not right.";

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    origin: Origin,
    form: web::Form<SignInForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let email = form.email.trim().to_string();
    let next = safe_next(&form.next).unwrap_or_default();
    let page = async |error: String, session: &Session| -> AppResult<SignInPage> {
        Ok(SignInPage {
            layout: Layout::public(session)?,
            email: email.clone(),
            next: next.clone(),
            error: Some(error),
            joining: joining(&state, session, &next).await?,
        })
    };

    let now = state.clock.now();
    let (lookup, client) = (email.clone(), origin.clone());
    let attempt = state
        .db(move |conn| users::begin_sign_in(conn, &lookup, &client, now))
        .await?;
    let user = match attempt {
        Attempt::Open(user) => user,
        Attempt::Locked { retry_after } => {
            let minutes = retry_after.div_ceil(60);
            let message = format!(
                "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let mut res = w::render(
                StatusCode::TOO_MANY_REQUESTS,
                &page(message, &session).await?,
            )?;
            res.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after),
            );
            return Ok(res);
        }
    };

    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.passwords.verify(form.password, hash).await?;

    match user.filter(|_| ok) {
        // The password was right; the session is not signed in until the
        // second factor passes too (`sign_in_code`).
        Some(user) if user.has_two_factor() => {
            let user_id = user.id;
            state
                .db(move |conn| users::password_accepted(conn, &user, &origin))
                .await?;
            session::begin_two_factor(&session, user_id, &next, now)?;
            Ok(w::see_other("/sign-in/two-factor"))
        }
        Some(user) => {
            let (user_id, outbox) = (user.id, state.outbox.clone());
            state
                .db(move |conn| users::signed_in(conn, &user, &origin, None, now, &outbox))
                .await?;
            session::sign_in(&session, user_id, now)?;
            Ok(w::see_other(if next.is_empty() { "/" } else { &next }))
        }
        None => {
            let attempted = email.clone();
            state
                .db(move |conn| {
                    users::sign_in_failed(
                        conn,
                        &attempted,
                        &origin,
                        now,
                        SignInFailure::BadCredentials,
                    )
                })
                .await?;
            w::render(
                StatusCode::BAD_REQUEST,
                &page(WRONG.into(), &session).await?,
            )
        }
    }
}
