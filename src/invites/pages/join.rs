//! The invitee's whole flow, in one place. `GET /invites/{token}` keeps
//! the invite in the session and redirects to `/invite`, so the token
//! leaves the address bar (and browser history, and any Referer).
//! `/invite` shows the team, who invited, the role and the expiry, with
//! Join Team — or, signed out, ways to sign up or in that come back here.
//! `POST /invite/accept` joins. What may join is decided by the core
//! (`invites::accept`), once for both.

use crate::web::session_store::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::Role;
use crate::ids::AccountId;
use crate::invites::accept::{self, InviteView, JoinError};
use crate::invites::pages::link_error;
use crate::tokens;
use crate::web::auth::SignedIn;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::{self as w, session};

/// Tokens are 256-bit HMACs in unpadded base64url: 43 characters.
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn open_link(
    state: web::Data<AppState>,
    session: Session,
    token: web::Path<String>,
) -> AppResult<HttpResponse> {
    let token = token.into_inner();
    if !well_formed(&token) {
        return Err(link_error(JoinError::Unknown));
    }
    let hash = tokens::sha256(&token);
    let lookup = hash.clone();
    let found = state
        .db(move |conn| accept::find_by_hash(conn, &lookup))
        .await?;
    if found.is_none() {
        return Err(link_error(JoinError::Unknown));
    }
    session::keep_invite(&session, &hash)?;
    Ok(w::see_other("/invite"))
}

fn ticket(session: &Session) -> AppResult<Vec<u8>> {
    session::invite(session).ok_or_else(|| AppError::NotFoundWith {
        title: "No invite to show".into(),
        message: "Open the invite link you received to see your invite.".into(),
    })
}

#[derive(Template)]
#[template(path = "invites/landing.html")]
struct LandingPage {
    layout: Layout,
    team_name: String,
    inviter: String,
    role: Role,
    email: Option<String>,
    expires_in: String,
    expires_on: String,
    signed_in: bool,
    notice: Option<String>,
    can_join: bool,
    member_of: Option<AccountId>,
    /// The team requires two-factor sign-in, which the person lacks.
    set_up_two_factor: bool,
    /// The invite's email, when the signed-in person has another one: they
    /// may sign out and continue as that address (the invite is kept).
    continue_as: Option<String>,
}

/// Why a signed-in person cannot join, as the landing page says it, and
/// the status it is said with after Join Team.
fn notice(refusal: &JoinError, view: &InviteView) -> (StatusCode, String) {
    match refusal {
        JoinError::TwoFactorRequired => (
            StatusCode::FORBIDDEN,
            format!(
                "{} requires two-factor authentication. Set it up first, then come back here to join.",
                view.team_name
            ),
        ),
        JoinError::WrongEmail => (
            StatusCode::FORBIDDEN,
            format!(
                "This invite is for {}, and you are signed in with another email address. Sign out and continue with that one to join.",
                view.invite.email.as_deref().unwrap_or_default()
            ),
        ),
        _ => (
            StatusCode::CONFLICT,
            format!("You are already a member of {}.", view.team_name),
        ),
    }
}

fn landing_page(
    session: &Session,
    signed_in: Option<&SignedIn>,
    view: &InviteView,
    refusal: Option<&JoinError>,
    now: time::OffsetDateTime,
) -> AppResult<LandingPage> {
    let layout = match signed_in {
        Some(s) => s.layout(None)?,
        None => Layout::public(session)?,
    };
    let already_member = matches!(refusal, Some(JoinError::AlreadyMember));
    Ok(LandingPage {
        layout,
        team_name: view.team_name.clone(),
        inviter: view.inviter.clone(),
        role: view.invite.role,
        email: view.invite.email.clone(),
        expires_in: crate::format::time_until(&view.invite.expires_at, now),
        expires_on: crate::format::date_time(&view.invite.expires_at),
        signed_in: signed_in.is_some(),
        can_join: signed_in.is_some() && refusal.is_none(),
        notice: refusal.map(|r| notice(r, view).1),
        member_of: already_member.then_some(view.invite.account_id),
        set_up_two_factor: matches!(refusal, Some(JoinError::TwoFactorRequired)),
        continue_as: matches!(refusal, Some(JoinError::WrongEmail))
            .then(|| view.invite.email.clone())
            .flatten(),
    })
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    signed_in: Option<SignedIn>,
) -> AppResult<HttpResponse> {
    let hash = ticket(&session)?;
    let user = signed_in.as_ref().map(|s| s.user.clone());
    let now = state.clock.now();
    let (view, refusal) = state
        .core(move |conn| accept::examine(conn, &hash, user.as_ref(), now))
        .await?
        .map_err(link_error)?;
    let page = landing_page(&session, signed_in.as_ref(), &view, refusal.as_ref(), now)?;
    w::page(&page)
}

pub async fn join(
    state: web::Data<AppState>,
    session: Session,
    signed_in: SignedIn,
    origin: Origin,
) -> AppResult<HttpResponse> {
    let hash = ticket(&session)?;
    let user = signed_in.user.clone();
    let lookup = hash.clone();
    let now = state.clock.now();
    let outcome = state
        .core(move |conn| accept::accept(conn, &lookup, &user, &origin, now))
        .await?;
    match outcome {
        Ok(joined) => {
            session::forget_invite(&session);
            session::success(
                &session,
                format!(
                    "Welcome to {}! You joined as {}.",
                    joined.team_name, joined.role
                ),
            );
            Ok(w::see_other(&format!("/accounts/{}", joined.account_id)))
        }
        // The landing page says why, and what to do next.
        Err(JoinError::WrongEmail | JoinError::AlreadyMember | JoinError::TwoFactorRequired) => {
            Ok(w::see_other("/invite"))
        }
        Err(refusal) => Err(link_error(refusal)),
    }
}
