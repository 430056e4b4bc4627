//! The profile page (from the name in the header): display name, email,
//! password, two-factor authentication and the sessions one is signed in
//! with, each of which can be ended. Every change is recorded in the
//! person's personal account's log. Email and password changes take the
//! current password, which is also their re-authentication.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::accounts::pages::refusal;
use crate::accounts::users::{self, Attempt};
use crate::accounts::{
    AccountsError, clean_name, passwords, profile, sessions, two_factor, valid_email,
};
use crate::audit::{Origin, SignInFailure};
use crate::format;
use crate::ids::SessionId;
use crate::web::auth::SignedIn;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

/// A session as the profile lists it.
pub struct SessionView {
    pub id: SessionId,
    pub device: String,
    pub ip: String,
    pub created: String,
    pub last_seen: String,
    pub current: bool,
}

#[derive(Default)]
pub struct ProfileErrors {
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_password: Option<String>,
    pub current_password: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/profile.html")]
struct ProfilePage {
    layout: Layout,
    display_name: String,
    email: String,
    /// What was typed in the email form, when it is shown again.
    new_email: String,
    errors: ProfileErrors,
    two_factor: bool,
    two_factor_since: String,
    codes_left: i64,
    /// Teams of the person that require two-factor authentication.
    requiring_teams: Vec<String>,
    sessions: Vec<SessionView>,
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    new_email: String,
    errors: ProfileErrors,
) -> AppResult<HttpResponse> {
    let user = signed_in.user.id;
    let wall = OffsetDateTime::now_utc();
    let (rows, codes_left) = state
        .db(move |conn| {
            // Sessions live by the wall clock (docs/decisions.md).
            let rows = sessions::of_user(conn, user, wall)?;
            let left = two_factor::recovery_codes_left(conn, user)?;
            Ok::<_, diesel::result::Error>((rows, left))
        })
        .await?;
    let current = signed_in.session.id();
    let sessions = rows
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            device: s
                .user_agent
                .as_deref()
                .map(format::short_user_agent)
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "Unknown device".into()),
            ip: s.ip.unwrap_or_else(|| "unknown".into()),
            created: format::date_time(&s.created_at),
            last_seen: format::time_ago(&s.last_seen_at, wall),
            current: Some(s.id) == current,
        })
        .collect();
    let u = &signed_in.user;
    let page = ProfilePage {
        layout: signed_in.layout(None)?,
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        new_email,
        errors,
        two_factor: u.has_two_factor(),
        two_factor_since: u
            .totp_enabled_at
            .map(|t| format::date(&t))
            .unwrap_or_default(),
        codes_left,
        requiring_teams: signed_in
            .accounts
            .iter()
            .filter(|m| m.account.require_two_factor)
            .map(|m| m.account.name.clone())
            .collect(),
        sessions,
    };
    w::render(status, &page)
}

pub async fn show(state: web::Data<AppState>, signed_in: SignedIn) -> AppResult<HttpResponse> {
    render(
        &state,
        &signed_in,
        StatusCode::OK,
        String::new(),
        ProfileErrors::default(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NameForm {
    pub display_name: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    form: web::Form<NameForm>,
) -> AppResult<HttpResponse> {
    let name = match clean_name(&form.display_name, "display name") {
        Ok(name) => name,
        Err(e) => {
            let errors = ProfileErrors {
                name: Some(e),
                ..ProfileErrors::default()
            };
            return render(
                &state,
                &signed_in,
                StatusCode::BAD_REQUEST,
                String::new(),
                errors,
            )
            .await;
        }
    };
    let cx = signed_in.personal_change(origin, state.clock.now());
    let new_name = name.clone();
    state
        .db(move |conn| profile::rename(conn, &cx, &new_name))
        .await?;
    session::success(&signed_in.session, format!("Your name is now {name}."));
    Ok(w::see_other("/profile"))
}

/// A check of the current password (email and password changes): `Err`
/// holds the status, the message and, when throttled, the seconds to wait.
/// Wrong passwords count like wrong sign-ins.
async fn check_password(
    state: &AppState,
    signed_in: &SignedIn,
    origin: &Origin,
    password: String,
) -> AppResult<Result<(), (StatusCode, String, Option<u64>)>> {
    let now = state.clock.now();
    let user = signed_in.user.clone();
    let (email, client) = (user.email.clone(), origin.clone());
    let attempt = state
        .db(move |conn| users::begin_sign_in(conn, &email, &client, now))
        .await?;
    if let Attempt::Locked { retry_after } = attempt {
        let minutes = retry_after.div_ceil(60);
        return Ok(Err((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong passwords. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
            Some(retry_after),
        )));
    }
    let right = state
        .passwords
        .verify(password, Some(user.password_hash.clone()))
        .await?;
    let client = origin.clone();
    if right {
        state
            .db(move |conn| users::password_accepted(conn, &user, &client))
            .await?;
        session::mark_verified(&signed_in.session, now)?;
        return Ok(Ok(()));
    }
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
    Ok(Err((
        StatusCode::BAD_REQUEST,
        "Your current password is not right.".into(),
        None,
    )))
}

fn with_retry_after(mut res: HttpResponse, retry_after: Option<u64>) -> HttpResponse {
    if let Some(seconds) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    res
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    pub email: String,
    pub password: String,
}

pub async fn change_email(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    form: web::Form<EmailForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let email = form.email.trim().to_string();
    if !valid_email(&email) {
        let errors = ProfileErrors {
            email: Some("Enter a valid email address, like name@example.com.".into()),
            ..ProfileErrors::default()
        };
        return render(&state, &signed_in, StatusCode::BAD_REQUEST, email, errors).await;
    }
    let now = state.clock.now();
    let client = origin.clone();
    let locked = state
        .db(move |conn| users::sign_up_locked(conn, &client, now))
        .await?;
    if let Some(retry_after) = locked {
        let errors = ProfileErrors {
            email: Some("Too many emails from your network were refused. Try again later.".into()),
            ..ProfileErrors::default()
        };
        let res = render(
            &state,
            &signed_in,
            StatusCode::TOO_MANY_REQUESTS,
            email,
            errors,
        )
        .await?;
        return Ok(with_retry_after(res, Some(retry_after)));
    }
    if let Err((status, message, retry_after)) =
        check_password(&state, &signed_in, &origin, form.password).await?
    {
        let errors = ProfileErrors {
            email_password: Some(message),
            ..ProfileErrors::default()
        };
        let res = render(&state, &signed_in, status, email, errors).await?;
        return Ok(with_retry_after(res, retry_after));
    }
    let cx = signed_in.personal_change(origin, now);
    let (new_email, outbox) = (email.clone(), state.outbox.clone());
    let changed = state
        .core(move |conn| profile::change_email(conn, &cx, &new_email, &outbox))
        .await?;
    if let Err(refused) = changed {
        let message = match refused {
            AccountsError::EmailTaken => {
                "This email cannot be used. If it is yours, sign in with it instead.".to_string()
            }
            other => refusal(&other).1.to_string(),
        };
        let errors = ProfileErrors {
            email: Some(message),
            ..ProfileErrors::default()
        };
        return render(&state, &signed_in, StatusCode::CONFLICT, email, errors).await;
    }
    session::success(&signed_in.session, format!("Your email is now {email}."));
    Ok(w::see_other("/profile"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub current_password: String,
    pub new_password: String,
}

pub async fn change_password(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    form: web::Form<PasswordForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let user = &signed_in.user;
    if let Err(e) =
        passwords::check_strength(&form.new_password, &[&user.email, &user.display_name])
    {
        let errors = ProfileErrors {
            new_password: Some(e),
            ..ProfileErrors::default()
        };
        return render(
            &state,
            &signed_in,
            StatusCode::BAD_REQUEST,
            String::new(),
            errors,
        )
        .await;
    }
    if let Err((status, message, retry_after)) =
        check_password(&state, &signed_in, &origin, form.current_password).await?
    {
        let errors = ProfileErrors {
            current_password: Some(message),
            ..ProfileErrors::default()
        };
        let res = render(&state, &signed_in, status, String::new(), errors).await?;
        return Ok(with_retry_after(res, retry_after));
    }
    let hash = state.passwords.hash(form.new_password).await?;
    let cx = signed_in.personal_change(origin, state.clock.now());
    let (keep, outbox) = (signed_in.session.id(), state.outbox.clone());
    let ended = state
        .db(move |conn| profile::change_password(conn, &cx, &hash, keep, &outbox))
        .await?;
    // A new key for this session too: whoever had a copy of it is out.
    signed_in.session.renew();
    let others = match ended {
        0 => String::new(),
        1 => " Your other session was signed out.".into(),
        n => format!(" Your {n} other sessions were signed out."),
    };
    session::success(
        &signed_in.session,
        format!("Your password was changed.{others}"),
    );
    Ok(w::see_other("/profile"))
}

#[derive(Deserialize)]
pub struct SessionPath {
    session_id: SessionId,
}

pub async fn end_session(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    path: web::Path<SessionPath>,
) -> AppResult<HttpResponse> {
    let id = path.session_id;
    if Some(id) == signed_in.session.id() {
        session::flash(
            &signed_in.session,
            session::FlashLevel::Error,
            "This is the session you are using now: use Sign out in the header instead.",
        );
        return Ok(w::see_other("/profile#sessions"));
    }
    let cx = signed_in.personal_change(origin, state.clock.now());
    let ended = state.db(move |conn| sessions::end(conn, &cx, id)).await?;
    let device = ended
        .user_agent
        .as_deref()
        .map(format::short_user_agent)
        .unwrap_or_else(|| "an unknown device".into());
    session::success(
        &signed_in.session,
        format!("The session on {device} is signed out."),
    );
    Ok(w::see_other("/profile#sessions"))
}

pub async fn end_other_sessions(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
) -> AppResult<HttpResponse> {
    let cx = signed_in.personal_change(origin, state.clock.now());
    let keep = signed_in.session.id();
    let ended = state
        .db(move |conn| sessions::end_others(conn, &cx, keep))
        .await?;
    let text = match ended {
        0 => "You had no other sessions.".to_string(),
        1 => "Your other session is signed out.".to_string(),
        n => format!("Your {n} other sessions are signed out."),
    };
    session::success(&signed_in.session, text);
    Ok(w::see_other("/profile#sessions"))
}
