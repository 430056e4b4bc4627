//! Sign-up: a user, their personal account (which they administer alone),
//! and the `user.signed_up` audit entry, in one transaction.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::accounts::{clean_name, passwords, safe_next, valid_email};
use crate::audit::{self, Actor};
use crate::authz::{AccountKind, Role};
use crate::db::schema::{accounts, memberships, users};
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
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
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn form(session: Session, query: web::Query<NextQuery>) -> AppResult<HttpResponse> {
    w::page(&SignUpPage {
        layout: Layout::public(&session)?,
        email: String::new(),
        display_name: String::new(),
        next: query
            .next
            .as_deref()
            .and_then(safe_next)
            .unwrap_or_default(),
        errors: SignUpErrors::default(),
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
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
    let rerender = |status, errors, session: &Session| {
        w::render(
            status,
            &SignUpPage {
                layout: Layout::public(session)?,
                email: email.clone(),
                display_name: form.display_name.clone(),
                next: next.clone(),
                errors,
            },
        )
    };
    if errors.any() {
        return rerender(StatusCode::BAD_REQUEST, errors, &session);
    }

    let hash = state.passwords.hash(form.password.clone()).await?;
    let new_user = (email.clone(), display_name.clone());
    let created = state
        .db(move |conn| create_user(conn, &new_user.0, &new_user.1, &hash, &client))
        .await?;
    let Some((user_id, account_id)) = created else {
        let errors = SignUpErrors {
            email: Some("An account with this email already exists. Sign in instead.".into()),
            ..SignUpErrors::default()
        };
        return rerender(StatusCode::CONFLICT, errors, &session);
    };
    session::sign_in(&session, user_id)?;
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

/// Creates the user, their personal account and its Admin membership.
/// `None` when the email is taken (in any letter case).
fn create_user(
    conn: &mut PgConnection,
    email: &str,
    display_name: &str,
    password_hash: &str,
    client: &ClientInfo,
) -> AppResult<Option<(Uuid, Uuid)>> {
    let result = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        let user_id = Uuid::new_v4();
        let account_id = Uuid::new_v4();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(user_id),
                users::email.eq(email),
                users::display_name.eq(display_name),
                users::password_hash.eq(password_hash),
            ))
            .execute(conn)?;
        diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(account_id),
                accounts::kind.eq(AccountKind::Personal.as_str()),
                accounts::name.eq(display_name),
                accounts::owner_id.eq(user_id),
            ))
            .execute(conn)?;
        diesel::insert_into(memberships::table)
            .values((
                memberships::account_id.eq(account_id),
                memberships::user_id.eq(user_id),
                memberships::role.eq(Role::Admin.as_str()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(&Actor::user(user_id, email)),
                action: "user.signed_up",
                resource_type: "user",
                resource_id: Some(user_id.to_string()),
                client,
                details: json!({ "display_name": display_name }),
            },
        )?;
        Ok((user_id, account_id))
    });
    match result {
        Ok(ids) => Ok(Some(ids)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(AppError::from(e)),
    }
}
