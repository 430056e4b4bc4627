//! Settings → Audit log streaming (Admin): the destinations with their
//! status, the form adding one (a secret the console made shown once, on
//! the page answering the form) and removing one.

pub mod destinations;

use actix_web::http::StatusCode;

use crate::streaming::StreamingError;
use crate::web::error::{AppError, internal};

/// What each refusal of the streaming core tells the user, and its
/// status: the one place they are written.
pub fn refusal(e: &StreamingError) -> (StatusCode, String) {
    match e {
        StreamingError::Db(_) => {
            let (status, message) = internal();
            (status, message.into())
        }
        StreamingError::NotFailing => (
            StatusCode::CONFLICT,
            "This destination is not failing: every entry is sent as soon as it is written."
                .to_string(),
        ),
        StreamingError::TooMany => (
            StatusCode::CONFLICT,
            format!(
                "An account streams to at most {} destinations: remove one before adding another.",
                crate::streaming::MAX_DESTINATIONS
            ),
        ),
    }
}

impl From<StreamingError> for AppError {
    fn from(e: StreamingError) -> AppError {
        match e {
            StreamingError::Db(e) => e.into(),
            refused => {
                let (status, message) = refusal(&refused);
                AppError::refused(status, message)
            }
        }
    }
}
