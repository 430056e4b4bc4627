//! The Pods pages: the list and its create form, start / stop /
//! terminate, and Connect.

pub mod actions;
pub mod connect;
pub mod list;

use actix_web::http::StatusCode;
use serde::Deserialize;

use crate::format::money;
use crate::ids::PodId;
use crate::pods::PodsError;
use crate::web::error::{AppError, internal};

/// The Pod in `/accounts/{account_id}/pods/{pod_id}/…` (the account comes
/// from `Member`).
#[derive(Deserialize)]
pub struct PodPath {
    pub pod_id: PodId,
}

/// What each refusal of the pods core tells the user, and its status: the
/// one place they are written.
pub fn refusal(e: &PodsError) -> (StatusCode, String) {
    let message = match e {
        PodsError::Db(_) => {
            let (status, message) = internal();
            return (status, message.into());
        }
        PodsError::Terminated { name } => {
            format!("{name} is terminated: it cannot be started, stopped or terminated again.")
        }
        PodsError::AlreadyRunning { name } => format!("{name} is already running."),
        PodsError::AlreadyStopped { name } => format!("{name} is already stopped."),
        PodsError::NoFunds {
            name,
            balance_cents,
        } => format!(
            "{name} cannot start: the account's balance is {}. A Billing member or an Admin must add funds first.",
            money(*balance_cents)
        ),
    };
    (StatusCode::CONFLICT, message)
}

impl From<PodsError> for AppError {
    fn from(e: PodsError) -> AppError {
        match e {
            PodsError::Db(e) => e.into(),
            refused => {
                let (status, message) = refusal(&refused);
                AppError::refused(status, message)
            }
        }
    }
}
