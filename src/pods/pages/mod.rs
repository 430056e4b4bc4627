//! The Pods pages: the list and its create form, start / stop /
//! terminate, and Connect.

pub mod actions;
pub mod connect;
pub mod list;

use actix_web::http::StatusCode;
use serde::Deserialize;

use crate::format::{either, gpu_hours, money, percent};
use crate::ids::PodId;
use crate::pods::{PodsError, catalogue};
use crate::spend::Block;
use crate::spend::limits::LimitSource;
use crate::spend::quotas::QuotaSource;
use crate::web::error::{AppError, internal};

/// The Pod in `/accounts/{account_id}/pods/{pod_id}/…` (the account comes
/// from `Member`).
#[derive(Deserialize)]
pub struct PodPath {
    pub pod_id: PodId,
}

/// Who may lift a block, by name ("Alice Admin or Bea Billing"), or by
/// role when the names are not known.
fn who(raisers: &[String], roles: &str) -> String {
    if raisers.is_empty() {
        roles.to_string()
    } else {
        format!("{} ({roles})", either(raisers))
    }
}

/// A spend control's refusal. `money`: the reader may see billing
/// information (SPEC §2); without it, usage is GPU-hours and a share of
/// the limit, never an amount.
fn blocked(name: &str, creating: bool, block: &Block, money_shown: bool) -> String {
    let cannot = if creating {
        format!("{name} cannot be created")
    } else {
        format!("{name} cannot start")
    };
    let spend_roles = "a Billing member or an Admin";
    match block {
        Block::TeamBudget {
            budget_cents,
            used,
            month,
            raisers,
        } => {
            let figure = if money_shown {
                format!(
                    "its monthly budget of {} ({} used this month)",
                    money(*budget_cents),
                    money(used.cents)
                )
            } else {
                format!(
                    "its monthly budget ({} % used, {} GPU-hours this month)",
                    percent(used.cents, *budget_cents),
                    gpu_hours(used.gpu_seconds)
                )
            };
            format!(
                "{cannot}: the team has used {figure}. No one can start or create Pods until {} unless the budget is raised; {} can raise it.",
                month.next_start_label(),
                who(raisers, spend_roles)
            )
        }
        Block::MemberLimit {
            limit_cents,
            source,
            used,
            month,
            raisers,
        } => {
            let whose = match source {
                LimitSource::Member => "your own monthly spend limit".to_string(),
                LimitSource::Role(role) => format!("the {role} role's monthly spend limit"),
            };
            let figure = if money_shown {
                format!(
                    "{whose} of {} ({} used this month)",
                    money(*limit_cents),
                    money(used.cents)
                )
            } else {
                format!(
                    "{whose} ({} % used, {} GPU-hours this month)",
                    percent(used.cents, *limit_cents),
                    gpu_hours(used.gpu_seconds)
                )
            };
            format!(
                "{cannot}: you have reached {figure}. You cannot start or create Pods until {} unless it is raised; {} can raise it.",
                month.next_start_label(),
                who(raisers, spend_roles)
            )
        }
        Block::Quota {
            gpu_type,
            max_gpus,
            source,
            running_gpus,
            requested,
            raisers,
        } => {
            let label = catalogue::label(gpu_type);
            let whose = match source {
                QuotaSource::Member => "your own GPU quota".to_string(),
                QuotaSource::Role(role) => format!("the {role} role's GPU quota"),
            };
            let need = if creating || *running_gpus == 0 {
                format!("it has {requested} × {label}")
            } else {
                format!(
                    "it needs {requested} × {label} and your running Pods already hold {running_gpus}"
                )
            };
            format!(
                "{cannot}: {need}, and {whose} allows {max_gpus} {label} at once. {} can change GPU quotas.",
                who(raisers, "an Admin")
            )
        }
    }
}

/// What each refusal of the pods core tells the user, and its status: the
/// one place they are written. `money_shown`: whether the reader may see
/// billing information.
pub fn refusal(e: &PodsError, money_shown: bool) -> (StatusCode, String) {
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
            accrued_cents,
        } => {
            let figure = match (money_shown, *accrued_cents > 0) {
                (false, _) => "the account has no funds left".to_string(),
                (true, false) => format!("the account's balance is {}", money(*balance_cents)),
                (true, true) => format!(
                    "the account's balance is {}, and its running Pods have used {} of it",
                    money(*balance_cents),
                    money(*accrued_cents)
                ),
            };
            format!(
                "{name} cannot start: {figure}. A Billing member or an Admin must add funds first."
            )
        }
        PodsError::Blocked { name, block } => blocked(name, false, block, money_shown),
    };
    (StatusCode::CONFLICT, message)
}

/// A refusal of creating a Pod (the same blocks, worded for creation).
pub fn create_refusal(e: &PodsError, money_shown: bool) -> (StatusCode, String) {
    match e {
        PodsError::Blocked { name, block } => (
            StatusCode::CONFLICT,
            blocked(name, true, block, money_shown),
        ),
        other => refusal(other, money_shown),
    }
}

impl From<PodsError> for AppError {
    fn from(e: PodsError) -> AppError {
        match e {
            PodsError::Db(e) => e.into(),
            refused => {
                // Without the reader at hand, the wording without money.
                let (status, message) = refusal(&refused, false);
                AppError::refused(status, message)
            }
        }
    }
}
