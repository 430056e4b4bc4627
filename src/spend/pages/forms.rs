//! The forms of Spend controls: POST …/billing/spend/budget, /roles and
//! /members (Billing, Admin), /quotas and /member-quotas (Admin). Amounts
//! are dollars (empty: no limit); quotas are whole GPUs (empty: none). A
//! refused form re-renders the page with what was typed (400); a saved one
//! flashes what changed and redirects to the page (303).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::{Role, can};
use crate::billing::amount;
use crate::format::money;
use crate::ids::UserId;
use crate::pods::catalogue::CATALOGUE;
use crate::spend::pages::controls::{self, Retyped};
use crate::spend::{limits, quotas};
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::{self as w, session};

/// The most GPUs of one type a quota may name.
pub const MAX_QUOTA: i32 = 1_000;

fn page(member_account: crate::ids::AccountId) -> String {
    format!("/accounts/{member_account}/billing/spend")
}

/// Re-renders the page with form `form` as typed (400).
async fn refused<C>(
    state: &AppState,
    member: &Member<C>,
    form: &str,
    values: HashMap<String, String>,
    invalid: Vec<String>,
    message: String,
) -> AppResult<HttpResponse> {
    let retyped = Retyped {
        form: form.to_string(),
        values,
        invalid,
        message,
    };
    controls::render(state, member, StatusCode::BAD_REQUEST, retyped).await
}

/// A quota as typed: empty for none, else a whole number of GPUs.
fn parse_quota(raw: &str) -> Result<Option<i32>, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i32>()
        .ok()
        .filter(|n| (0..=MAX_QUOTA).contains(n))
        .map(Some)
        .ok_or_else(|| {
            format!("A quota is a whole number of GPUs from 0 to {MAX_QUOTA}, or empty for none.")
        })
}

#[derive(Deserialize)]
pub struct BudgetForm {
    #[serde(default)]
    budget: String,
}

pub async fn set_budget(
    state: web::Data<AppState>,
    member: Member<can::ManageSpend>,
    origin: Origin,
    form: web::Form<BudgetForm>,
) -> AppResult<HttpResponse> {
    let cents = match amount::parse_limit(&form.budget) {
        Ok(cents) => cents,
        Err(message) => {
            let values = HashMap::from([("budget".to_string(), form.budget.clone())]);
            let invalid = vec!["budget".to_string()];
            return refused(&state, &member, "budget", values, invalid, message).await;
        }
    };
    let cx = member.change(origin, state.clock.now());
    let changed = state
        .db(move |conn| limits::set_budget(conn, &cx, cents))
        .await?;
    let message = match (changed, cents) {
        (false, _) => "The team's monthly budget is unchanged.".to_string(),
        (true, Some(cents)) => format!("The team's monthly budget is now {}.", money(cents)),
        (true, None) => "The team has no monthly budget now.".to_string(),
    };
    session::success(member.session(), message);
    Ok(w::see_other(&page(member.account_id())))
}

pub async fn set_role_limits(
    state: web::Data<AppState>,
    member: Member<can::ManageSpend>,
    origin: Origin,
    form: web::Form<HashMap<String, String>>,
) -> AppResult<HttpResponse> {
    let values = form.into_inner();
    let mut parsed = Vec::new();
    let mut invalid = Vec::new();
    let mut message = None;
    for role in Role::ALL {
        let name = format!("limit_{}", role.as_str());
        let raw = values.get(&name).map(String::as_str).unwrap_or_default();
        match amount::parse_limit(raw) {
            Ok(cents) => parsed.push((role, cents)),
            Err(e) => {
                message.get_or_insert(format!("{} role: {e}", role.label()));
                invalid.push(name);
            }
        }
    }
    if let Some(message) = message {
        return refused(&state, &member, "roles", values, invalid, message).await;
    }
    let cx = member.change(origin, state.clock.now());
    let changed = state
        .db(move |conn| limits::set_role_limits(conn, &cx, &parsed))
        .await?;
    let message = match changed {
        0 => "The roles' monthly limits are unchanged.".to_string(),
        1 => "One role's monthly limit was changed.".to_string(),
        n => format!("{n} roles' monthly limits were changed."),
    };
    session::success(member.session(), message);
    Ok(w::see_other(&page(member.account_id())))
}

/// The member a form is about: a member id, else a message.
fn member_of(values: &HashMap<String, String>) -> Result<UserId, String> {
    values
        .get("member")
        .and_then(|raw| raw.trim().parse::<UserId>().ok())
        .ok_or_else(|| "Choose a member of the team.".to_string())
}

pub async fn set_member_limit(
    state: web::Data<AppState>,
    member: Member<can::ManageSpend>,
    origin: Origin,
    form: web::Form<HashMap<String, String>>,
) -> AppResult<HttpResponse> {
    let values = form.into_inner();
    let user = match member_of(&values) {
        Ok(user) => user,
        Err(message) => return refused(&state, &member, "", values, vec![], message).await,
    };
    let form_id = format!("limit-{user}");
    let raw = values.get("limit").map(String::as_str).unwrap_or_default();
    let cents = match amount::parse_limit(raw) {
        Ok(cents) => cents,
        Err(message) => {
            let invalid = vec!["limit".to_string()];
            return refused(&state, &member, &form_id, values, invalid, message).await;
        }
    };
    let cx = member.change(origin, state.clock.now());
    let (changed, name) = state
        .db(move |conn| limits::set_member_limit(conn, &cx, user, cents))
        .await?;
    let message = match (changed, cents) {
        (false, _) => format!("{name}'s monthly limit is unchanged."),
        (true, Some(cents)) => format!("{name}'s own monthly limit is now {}.", money(cents)),
        (true, None) => {
            format!("{name} has no limit of their own now: their role's applies, if it has one.")
        }
    };
    session::success(member.session(), message);
    Ok(w::see_other(&page(member.account_id())))
}

/// Each GPU type's quota as typed (None: no quota).
type GpuQuotas = Vec<(&'static str, Option<i32>)>;

/// The quota of each GPU type as typed, or the fields at fault and a
/// message.
fn parse_quotas(values: &HashMap<String, String>) -> Result<GpuQuotas, (Vec<String>, String)> {
    let mut parsed = Vec::new();
    let mut invalid = Vec::new();
    let mut message = None;
    for gpu in CATALOGUE {
        let raw = values.get(gpu.id).map(String::as_str).unwrap_or_default();
        match parse_quota(raw) {
            Ok(quota) => parsed.push((gpu.id, quota)),
            Err(e) => {
                message.get_or_insert(format!("{}: {e}", gpu.label));
                invalid.push(gpu.id.to_string());
            }
        }
    }
    match message {
        None => Ok(parsed),
        Some(message) => Err((invalid, message)),
    }
}

fn quotas_message(who: &str, changed: usize) -> String {
    match changed {
        0 => format!("{who} GPU quotas are unchanged."),
        1 => format!("One of {who} GPU quotas was changed."),
        n => format!("{n} of {who} GPU quotas were changed."),
    }
}

pub async fn set_role_quotas(
    state: web::Data<AppState>,
    member: Member<can::ManageQuotas>,
    origin: Origin,
    form: web::Form<HashMap<String, String>>,
) -> AppResult<HttpResponse> {
    let values = form.into_inner();
    let Some(role) = values.get("role").and_then(|r| Role::parse(r.trim())) else {
        let message = "Choose a role.".to_string();
        return refused(&state, &member, "", values, vec![], message).await;
    };
    let form_id = format!("quota-{}", role.as_str());
    let parsed = match parse_quotas(&values) {
        Ok(parsed) => parsed,
        Err((invalid, message)) => {
            return refused(&state, &member, &form_id, values, invalid, message).await;
        }
    };
    let cx = member.change(origin, state.clock.now());
    let changed = state
        .db(move |conn| quotas::set_role_quotas(conn, &cx, role, &parsed))
        .await?;
    let who = format!("the {} role's", role.label());
    let mut message = quotas_message(&who, changed);
    if let Some(first) = message.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    session::success(member.session(), message);
    Ok(w::see_other(&format!(
        "{}#quotas",
        page(member.account_id())
    )))
}

pub async fn set_member_quotas(
    state: web::Data<AppState>,
    member: Member<can::ManageQuotas>,
    origin: Origin,
    form: web::Form<HashMap<String, String>>,
) -> AppResult<HttpResponse> {
    let values = form.into_inner();
    let user = match member_of(&values) {
        Ok(user) => user,
        Err(message) => return refused(&state, &member, "", values, vec![], message).await,
    };
    let form_id = format!("gpus-{user}");
    let parsed = match parse_quotas(&values) {
        Ok(parsed) => parsed,
        Err((invalid, message)) => {
            return refused(&state, &member, &form_id, values, invalid, message).await;
        }
    };
    let cx = member.change(origin, state.clock.now());
    let (changed, name) = state
        .db(move |conn| quotas::set_member_quotas(conn, &cx, user, &parsed))
        .await?;
    session::success(
        member.session(),
        quotas_message(&format!("{name}'s own"), changed),
    );
    Ok(w::see_other(&format!(
        "{}#quotas",
        page(member.account_id())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_whole_gpus_or_nothing() {
        assert_eq!(parse_quota(""), Ok(None));
        assert_eq!(parse_quota(" 4 "), Ok(Some(4)));
        assert_eq!(parse_quota("0"), Ok(Some(0)));
        for bad in ["-1", "1.5", "four", "1001", "99999999999"] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
    }
}
