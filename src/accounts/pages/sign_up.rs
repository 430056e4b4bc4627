//! Sign-up: the form, then a user and their personal account (which they
//! administer alone), made by the accounts core in one transaction.

use crate::web::session_store::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::pages::{Joining, joining, refusal};
use crate::accounts::users::{self, NewUser};
use crate::accounts::{clean_name, passwords, safe_next, valid_email};
use crate::audit::Origin;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignUpForm {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub next: String,
}

#[derive(Default)]
pub struct SignUpErrors {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub password: Option<String>,
}

impl SignUpErrors {
    fn any(&self) -> bool {
        self.email.is_some() || self.display_name.is_some() || self.password.is_some()
    }
}

#[derive(Template)]
#[template(path = "accounts/sign_up.html")]
struct SignUpPage {
    layout: Layout,
    email: String,
    display_name: String,
    next: String,
    errors: SignUpErrors,
    /// The invite this sign-up comes from.
    joining: Option<Joining>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn form(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    let next = query
        .next
        .as_deref()
        .and_then(safe_next)
        .unwrap_or_default();
    let joining = joining(&state, &session, &next).await?;
    w::page(&SignUpPage {
        layout: Layout::public(&session)?,
        email: joining
            .as_ref()
            .and_then(|j| j.email.clone())
            .unwrap_or_default(),
        display_name: String::new(),
        next,
        errors: SignUpErrors::default(),
        joining,
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    origin: Origin,
    form: web::Form<SignUpForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let email = form.email.trim().to_string();
    let mut errors = SignUpErrors::default();
    if !valid_email(&email) {
        errors.email = Some("Enter a valid email address, like name@example.com.".into());
    }
    let display_name = match clean_name(&form.display_name, "display name") {
        Ok(name) => name,
        Err(e) => {
            errors.display_name = Some(e);
            String::new()
        }
    };
    if let Err(e) = passwords::check_strength(&form.password, &[&email, &display_name]) {
        errors.password = Some(e);
    }
    let next = safe_next(&form.next).unwrap_or_default();
    let rerender = async |status, errors, session: &Session| {
        w::render(
            status,
            &SignUpPage {
                layout: Layout::public(session)?,
                email: email.clone(),
                display_name: form.display_name.clone(),
                next: next.clone(),
                errors,
                joining: joining(&state, session, &next).await?,
            },
        )
    };
    if errors.any() {
        return rerender(StatusCode::BAD_REQUEST, errors, &session).await;
    }

    let now = state.clock.now();
    let client = origin.clone();
    let locked = state
        .db(move |conn| users::sign_up_locked(conn, &client, now))
        .await?;
    if let Some(retry_after) = locked {
        let minutes = retry_after.div_ceil(60);
        let errors = SignUpErrors {
            email: Some(format!(
                "Too many sign-ups from your network were refused. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )),
            ..SignUpErrors::default()
        };
        let mut res = rerender(StatusCode::TOO_MANY_REQUESTS, errors, &session).await?;
        res.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(retry_after),
        );
        return Ok(res);
    }
    let hash = state.passwords.hash(form.password.clone()).await?;
    let (new_email, new_name) = (email.clone(), display_name.clone());
    let created = state
        .core(move |conn| {
            let new = NewUser {
                email: &new_email,
                display_name: &new_name,
                password_hash: &hash,
            };
            users::sign_up(conn, &new, &origin, now)
        })
        .await?;
    let (user_id, account_id) = match created {
        Ok(ids) => ids,
        Err(refused) => {
            let (status, message) = refusal(&refused);
            let errors = SignUpErrors {
                email: Some(message.to_string()),
                ..SignUpErrors::default()
            };
            return rerender(status, errors, &session).await;
        }
    };
    session::sign_in(&session, user_id, now)?;
    session::success(
        &session,
        format!("Welcome to Team Console, {display_name}."),
    );
    let to = if next.is_empty() {
        format!("/accounts/{account_id}")
    } else {
        next
    };
    Ok(w::see_other(&to))
}
