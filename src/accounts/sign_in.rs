//! Sign-in. An unknown email and a wrong password get the same page, the
//! same status and (through the dummy hash) the same work. Failures are
//! throttled per email and per client IP.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::accounts::{models, safe_next, throttle};
use crate::audit::{self, Actor};
use crate::web::client::ClientInfo;
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
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Set by sign-out's redirect (the session, and its flashes, are gone).
    signed_out: Option<String>,
}

pub async fn form(session: Session, query: web::Query<NextQuery>) -> AppResult<HttpResponse> {
    let mut layout = Layout::public(&session)?;
    if query.signed_out.is_some() {
        layout.flashes.push(crate::web::session::Flash {
            level: crate::web::session::FlashLevel::Info,
            text: "You are signed out.".into(),
        });
    }
    w::page(&SignInPage {
        layout,
        email: String::new(),
        next: query
            .next
            .as_deref()
            .and_then(safe_next)
            .unwrap_or_default(),
        error: None,
    })
}

const WRONG: &str = "The email or password is not right.";

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    form: web::Form<SignInForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let email = form.email.trim().to_string();
    let next = safe_next(&form.next).unwrap_or_default();
    let email_key = throttle::email_key(&email);
    let ip_key = throttle::ip_key(client.ip.as_deref().unwrap_or("unknown"));
    let page = |error: String, session: &Session| -> AppResult<SignInPage> {
        Ok(SignInPage {
            layout: Layout::public(session)?,
            email: email.clone(),
            next: next.clone(),
            error: Some(error),
        })
    };

    let keys = vec![email_key.clone(), ip_key.clone()];
    let lookup_email = email.clone();
    let (locked, user) = state
        .db(move |conn| {
            let locked = throttle::retry_after(conn, &keys)?;
            let user = match locked {
                Some(_) => None,
                None => models::find_user_by_email(conn, &lookup_email)?,
            };
            Ok((locked, user))
        })
        .await?;
    if let Some(retry_after) = locked {
        let minutes = retry_after.div_ceil(60);
        let message = format!(
            "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        let mut res = w::render(StatusCode::TOO_MANY_REQUESTS, &page(message, &session)?)?;
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(retry_after),
        );
        return Ok(res);
    }

    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.passwords.verify(form.password, hash).await?;

    match user.filter(|_| ok) {
        Some(user) => {
            let actor = Actor::user(user.id, &user.email);
            state
                .db(move |conn| {
                    conn.transaction(|conn| {
                        throttle::clear(conn, &email_key)?;
                        audit::record(
                            conn,
                            audit::Entry {
                                account_id: None,
                                actor: Some(&actor),
                                action: "user.signed_in",
                                resource_type: "user",
                                resource_id: Some(user.id.to_string()),
                                client: &client,
                                details: json!({}),
                            },
                        )
                    })?;
                    Ok(())
                })
                .await?;
            session::sign_in(&session, user.id)?;
            Ok(w::see_other(if next.is_empty() { "/" } else { &next }))
        }
        None => {
            let attempted = email.clone();
            state
                .db(move |conn| {
                    conn.transaction(|conn| {
                        throttle::record_failure(conn, &email_key, throttle::EMAIL_LIMIT)?;
                        throttle::record_failure(conn, &ip_key, throttle::IP_LIMIT)?;
                        let actor = Actor {
                            id: None,
                            email: attempted.chars().take(254).collect(),
                        };
                        audit::record(
                            conn,
                            audit::Entry {
                                account_id: None,
                                actor: Some(&actor),
                                action: "user.sign_in_failed",
                                resource_type: "user",
                                resource_id: None,
                                client: &client,
                                details: json!({ "reason": "bad_credentials" }),
                            },
                        )
                    })?;
                    Ok(())
                })
                .await?;
            w::render(StatusCode::BAD_REQUEST, &page(WRONG.into(), &session)?)
        }
    }
}
