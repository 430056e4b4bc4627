//! The accounts area's pages: sign-up, sign-in (and its second step),
//! sign-out, the dashboard, settings (and the team's two-factor rule),
//! conversion, and the profile with two-factor set-up.

pub mod convert;
pub mod dashboard;
pub mod export;
pub mod leaving;
pub mod password_reset;
pub mod profile;
pub mod settings;
pub mod sign_in;
pub mod sign_in_code;
pub mod sign_out;
pub mod sign_up;
pub mod two_factor;
pub mod two_factor_rule;

use actix_web::http::StatusCode;

use crate::accounts::AccountsError;
use crate::web::error::{AppError, internal};

/// What each refusal of the accounts core tells the user, and its status:
/// the one place they are written.
pub fn refusal(e: &AccountsError) -> (StatusCode, &'static str) {
    let message = match e {
        AccountsError::Db(_) => return internal(),
        AccountsError::EmailTaken => {
            "No new account can be made with this email. If it is yours, sign in instead."
        }
        AccountsError::AlreadyTeam => "This account is already a team account.",
        AccountsError::NotOwner => "Only the owner of a personal account can convert it.",
        AccountsError::NotATeam => {
            "Only a team account has a team name. Convert this account to a team first."
        }
        AccountsError::TwoFactorAlreadyOn => "Two-factor authentication is already on.",
        AccountsError::TwoFactorOff => "Two-factor authentication is off.",
        AccountsError::WrongCode => {
            return (
                StatusCode::BAD_REQUEST,
                "That code is not right. Enter the 6-digit code your app shows now.",
            );
        }
        AccountsError::ResetLinkUnusable => {
            return (
                StatusCode::GONE,
                "This password reset link no longer works: it was used, it expired (links work for an hour), or the password was changed since. Ask for a new one.",
            );
        }
        AccountsError::NameMismatch => {
            return (
                StatusCode::BAD_REQUEST,
                "The name you typed is not the team's name. Type it exactly as shown to delete the team.",
            );
        }
        AccountsError::NotAlone => {
            "Only a team whose only member is you can become a personal account. Remove the other members first, or delete the team."
        }
        AccountsError::HasPersonal => {
            "You already have a personal account, and each person has one. Delete this team instead, or keep it as a team."
        }
        AccountsError::LastAdmin(_) => {
            "You are the last Admin of a team. Make someone else its Admin, or delete the team, first."
        }
        AccountsError::TwoFactorFirst => {
            "Turn on two-factor authentication for yourself (on your profile) before requiring it of the team."
        }
    };
    (StatusCode::CONFLICT, message)
}

impl From<AccountsError> for AppError {
    fn from(e: AccountsError) -> AppError {
        match e {
            AccountsError::Db(e) => e.into(),
            refused => {
                let (status, message) = refusal(&refused);
                AppError::refused(status, message)
            }
        }
    }
}

/// The invite a sign-up or sign-in comes from (`next=/invite`), as its form
/// names it: the team, the role, and the email the invite is meant for
/// (filled in).
pub struct Joining {
    pub team_name: String,
    pub role: crate::authz::Role,
    pub email: Option<String>,
}

/// The usable invite kept in the session, when the form goes back to it.
pub async fn joining(
    state: &actix_web::web::Data<crate::AppState>,
    session: &crate::web::session_store::Session,
    next: &str,
) -> crate::web::error::AppResult<Option<Joining>> {
    if next != "/invite" {
        return Ok(None);
    }
    let Some(hash) = crate::web::session::invite(session) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let found = state
        .core(move |conn| crate::invites::accept::view(conn, &hash))
        .await?;
    Ok(found
        .ok()
        .filter(|view| view.invite.unusable(now).is_none())
        .map(|view| Joining {
            team_name: view.team_name,
            role: view.invite.role,
            email: view.invite.email,
        }))
}
