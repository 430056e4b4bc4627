//! The Team page and everything done on it: the members list, role
//! changes, removal, leaving, and (through the invites core) creating,
//! regenerating and revoking invites.

pub mod change_role;
pub mod invites;
pub mod leave;
pub mod new_invite;
pub mod remove;
pub mod team;

use actix_web::http::StatusCode;

use crate::members::MembersError;
use crate::web::error::{AppError, internal};

/// What each refusal of the members core tells the user, and its status:
/// the one place they are written.
pub fn refusal(e: &MembersError) -> (StatusCode, String) {
    let (status, message) = match e {
        MembersError::Db(_) => internal(),
        MembersError::NotAdmin => (
            StatusCode::FORBIDDEN,
            "Only an Admin can do this, and you are no longer one.",
        ),
        MembersError::LastAdmin => (
            StatusCode::CONFLICT,
            "A team needs at least one Admin. Make someone else an Admin first.",
        ),
        MembersError::LastAdminLeaving => (
            StatusCode::CONFLICT,
            "You are the last Admin of this team: make someone else an Admin before leaving.",
        ),
        MembersError::RemovingSelf => (StatusCode::CONFLICT, "To remove yourself, use Leave team."),
    };
    (status, message.into())
}

impl From<MembersError> for AppError {
    fn from(e: MembersError) -> AppError {
        match e {
            MembersError::Db(e) => e.into(),
            refused => {
                let (status, message) = refusal(&refused);
                AppError::refused(status, message)
            }
        }
    }
}
