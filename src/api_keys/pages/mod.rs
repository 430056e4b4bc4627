//! Settings → API keys (Admin): the list, the form creating a key (its
//! secret shown once, on the page answering the form) and revoking.

pub mod keys;

use actix_web::http::StatusCode;

use crate::api_keys::ApiKeysError;
use crate::web::error::{AppError, internal};

/// What each refusal of the API keys core tells the user, and its status:
/// the one place they are written.
pub fn refusal(e: &ApiKeysError) -> (StatusCode, String) {
    let (status, message) = match e {
        ApiKeysError::Db(_) => internal(),
        ApiKeysError::AlreadyRevoked => (StatusCode::CONFLICT, "This key is already revoked."),
    };
    (status, message.into())
}

impl From<ApiKeysError> for AppError {
    fn from(e: ApiKeysError) -> AppError {
        match e {
            ApiKeysError::Db(e) => e.into(),
            refused => {
                let (status, message) = refusal(&refused);
                AppError::refused(status, message)
            }
        }
    }
}
