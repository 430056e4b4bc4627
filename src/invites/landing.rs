//! What the invitee sees. `GET /invites/{token}` keeps the invite in the
//! session and redirects to `/invite`, so the token leaves the address bar
//! (and browser history, and any Referer). `/invite` shows the team, who
//! invited, the role and the expiry, with Join Team — or, signed out, ways
//! to sign up or in that come back here.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AppState;
use crate::authz::Role;
use crate::db::schema::{accounts, memberships, users};
use crate::invites::Invite;
use crate::invites::accept::{self, Refusal};
use crate::tokens;
use crate::web::auth::SignedIn;
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::{self as w, session};

/// Session key of the invite being looked at (the hash of its link token,
/// never the token itself: sessions live in the database).
const TICKET_KEY: &str = "invite";

#[derive(Serialize, Deserialize)]
struct Ticket {
    token_hash: String,
}

fn invalid_link() -> AppError {
    AppError::NotFoundWith {
        title: "Invite link not valid".into(),
        message: "This invite link is not valid: it may be mistyped, or a team Admin replaced it with a new link. Ask them for the current one.".into(),
    }
}

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
        return Err(invalid_link());
    }
    let hash = tokens::sha256(&token);
    let lookup = hash.clone();
    let found = state
        .db(move |conn| Ok(accept::find_by_hash(conn, &lookup)?))
        .await?;
    if found.is_none() {
        return Err(invalid_link());
    }
    session
        .insert(
            TICKET_KEY,
            Ticket {
                token_hash: hex(&hash),
            },
        )
        .map_err(|e| AppError::internal(anyhow::anyhow!("session: {e}")))?;
    Ok(w::see_other("/invite"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn ticket(session: &Session) -> AppResult<Vec<u8>> {
    session
        .get::<Ticket>(TICKET_KEY)
        .ok()
        .flatten()
        .and_then(|t| unhex(&t.token_hash))
        .ok_or_else(|| AppError::NotFoundWith {
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
    member_of: Option<Uuid>,
}

struct InviteView {
    invite: Invite,
    team_name: String,
    inviter: String,
}

fn load_view(conn: &mut PgConnection, token_hash: &[u8]) -> AppResult<InviteView> {
    let invite = accept::find_by_hash(conn, token_hash)?.ok_or_else(invalid_link)?;
    let team_name = accounts::table
        .find(invite.account_id)
        .select(accounts::name)
        .first(conn)?;
    let inviter = users::table
        .find(invite.created_by)
        .select(users::display_name)
        .first(conn)?;
    Ok(InviteView {
        invite,
        team_name,
        inviter,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    signed_in: Option<SignedIn>,
) -> AppResult<HttpResponse> {
    let hash = ticket(&session)?;
    let user_id = signed_in.as_ref().map(|s| s.user.id);
    let (view, is_member) = state
        .db(move |conn| {
            let view = load_view(conn, &hash)?;
            let is_member = match user_id {
                Some(user_id) => {
                    memberships::table
                        .find((view.invite.account_id, user_id))
                        .count()
                        .get_result::<i64>(conn)?
                        > 0
                }
                None => false,
            };
            Ok((view, is_member))
        })
        .await?;
    if let Some(why) = view.invite.unusable(time::OffsetDateTime::now_utc()) {
        return Err(why.error());
    }
    let wrong_email = match (&signed_in, &view.invite.email) {
        (Some(s), Some(email)) => !email.eq_ignore_ascii_case(&s.user.email),
        _ => false,
    };
    let notice = if is_member {
        Some(format!("You are already a member of {}.", view.team_name))
    } else if wrong_email {
        Some(wrong_email_message(&view))
    } else {
        None
    };
    let page = landing_page(
        &session,
        signed_in.as_ref(),
        &view,
        notice,
        is_member && !wrong_email,
    )?;
    w::page(&page)
}

fn wrong_email_message(view: &InviteView) -> String {
    format!(
        "This invite is for {}. Sign in with that email address to join.",
        view.invite.email.as_deref().unwrap_or_default()
    )
}

fn landing_page(
    session: &Session,
    signed_in: Option<&SignedIn>,
    view: &InviteView,
    notice: Option<String>,
    already_member: bool,
) -> AppResult<LandingPage> {
    let layout = match signed_in {
        Some(s) => s.layout(None)?,
        None => Layout::public(session)?,
    };
    Ok(LandingPage {
        layout,
        team_name: view.team_name.clone(),
        inviter: view.inviter.clone(),
        role: view.invite.role(),
        email: view.invite.email.clone(),
        expires_in: crate::web::format::time_until(&view.invite.expires_at),
        expires_on: crate::web::format::date_time(&view.invite.expires_at),
        signed_in: signed_in.is_some(),
        can_join: signed_in.is_some() && notice.is_none(),
        notice,
        member_of: already_member.then_some(view.invite.account_id),
    })
}

pub async fn join(
    state: web::Data<AppState>,
    session: Session,
    signed_in: SignedIn,
    client: ClientInfo,
) -> AppResult<HttpResponse> {
    let hash = ticket(&session)?;
    let user = signed_in.user.clone();
    let lookup = hash.clone();
    let outcome = state
        .db(move |conn| accept::accept(conn, &lookup, &user, &client))
        .await?;
    match outcome {
        Ok(joined) => {
            session.remove(TICKET_KEY);
            let team_name = state
                .db(move |conn| {
                    Ok(accounts::table
                        .find(joined.account_id)
                        .select(accounts::name)
                        .first::<String>(conn)?)
                })
                .await?;
            session::success(
                &session,
                format!("Welcome to {team_name}! You joined as {}.", joined.role),
            );
            Ok(w::see_other(&format!("/accounts/{}", joined.account_id)))
        }
        Err(Refusal::Unknown) => Err(invalid_link()),
        Err(Refusal::Unusable(why)) => Err(why.error()),
        Err(refusal @ (Refusal::WrongEmail | Refusal::AlreadyMember)) => {
            let view = state.db(move |conn| load_view(conn, &hash)).await?;
            let (status, notice) = match refusal {
                Refusal::WrongEmail => (StatusCode::FORBIDDEN, wrong_email_message(&view)),
                _ => (
                    StatusCode::CONFLICT,
                    format!("You are already a member of {}.", view.team_name),
                ),
            };
            let already = refusal == Refusal::AlreadyMember;
            let page = landing_page(&session, Some(&signed_in), &view, Some(notice), already)?;
            w::render(status, &page)
        }
    }
}
