//! The accounts area's pages: sign-up, sign-in, sign-out, the dashboard,
//! settings and conversion.

pub mod convert;
pub mod dashboard;
pub mod settings;
pub mod sign_in;
pub mod sign_out;
pub mod sign_up;

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
