//! What the invitee sees: the link, the landing page, Join Team (`join`).
//! The Admin's side of invites is on the Team page (`members::pages`).

pub mod join;

use actix_web::http::StatusCode;

use crate::invites::accept::JoinError;
use crate::invites::{InvitesError, MAX_PENDING, Unusable};
use crate::web::error::{AppError, internal};

/// What each refusal of an Admin's invite action tells them, and its
/// status: the one place they are written.
pub fn refusal(e: &InvitesError) -> (StatusCode, String) {
    let message = match e {
        InvitesError::Db(_) => {
            let (status, message) = internal();
            return (status, message.into());
        }
        InvitesError::TooManyPending => format!(
            "This team already has {MAX_PENDING} pending invites. Revoke some before creating more."
        ),
        InvitesError::AlreadyMember { name } => format!(
            "{name} already uses this email address and is a member of this team. To give them another role, change it on the Team page."
        ),
        InvitesError::NotPending(why) => {
            format!("This invite is no longer pending: it was {}.", why.reason())
        }
        InvitesError::NoEmail => {
            "This invite was made for no email, so there is nowhere to send it. Copy its link instead."
                .to_string()
        }
    };
    (StatusCode::CONFLICT, message)
}

impl From<InvitesError> for AppError {
    fn from(e: InvitesError) -> AppError {
        match e {
            InvitesError::Db(e) => e.into(),
            refused => {
                let (status, message) = refusal(&refused);
                AppError::refused(status, message)
            }
        }
    }
}

/// The page of a link that cannot be used: 404 for an unknown link, 410
/// for one that was used, revoked or expired.
pub fn link_error(e: JoinError) -> AppError {
    let (title, message) = match e {
        JoinError::Db(e) => return e.into(),
        JoinError::Unknown => {
            return AppError::NotFoundWith {
                title: "Invite link not valid".into(),
                message: "This invite link is not valid: it may be mistyped, or a team Admin replaced it with a new link. Ask them for the current one.".into(),
            };
        }
        JoinError::Unusable(Unusable::Used) => (
            "Invite already used",
            "This invite link has already been used. Ask a team Admin for a new invite.",
        ),
        JoinError::Unusable(Unusable::Revoked) => (
            "Invite revoked",
            "This invite was revoked by a team Admin. Ask them for a new invite.",
        ),
        JoinError::Unusable(Unusable::Expired) => (
            "Invite expired",
            "This invite link has expired. Ask a team Admin for a new invite.",
        ),
        JoinError::WrongEmail | JoinError::AlreadyMember | JoinError::TwoFactorRequired => {
            return AppError::refused(StatusCode::CONFLICT, "You cannot join with this invite.");
        }
    };
    AppError::Gone {
        title: title.into(),
        message: message.into(),
    }
}
