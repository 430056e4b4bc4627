//! The billing page and its two forms (Add funds, billing email).

pub mod actions;
pub mod page;

use actix_web::http::StatusCode;

use crate::billing::BillingError;
use crate::web::error::AppError;

impl From<BillingError> for AppError {
    /// The one place the billing core's refusals get their status and text.
    fn from(e: BillingError) -> AppError {
        match e {
            BillingError::Db(e) => e.into(),
            BillingError::NotPositive => {
                AppError::refused(StatusCode::BAD_REQUEST, "Add a positive amount.")
            }
        }
    }
}
