//! GET /api/v1/accounts/{id}/billing (`billing:read`): the balance and the
//! team's usage this month, from the billing and spend cores.

use actix_web::web;
use serde::Serialize;

use crate::AppState;
use crate::api::{ApiResult, Key, ok, scope};
use crate::{billing, spend};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Billing {
    pub balance_cents: i64,
    /// This month (UTC), "2026-11".
    pub month: String,
    /// What Pods have cost this month, running ones included so far.
    pub usage_cents: i64,
    /// GPU time this month, in GPU-hours.
    pub usage_gpu_hours: f64,
}

#[utoipa::path(
    get,
    path = "/api/v1/accounts/{account_id}/billing",
    tag = "billing",
    security(("api_key" = ["billing:read"])),
    params(("account_id" = String, Path, description = "The account")),
    responses(
        (status = 200, description = "Balance and this month's usage", body = Billing),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn show(state: web::Data<AppState>, key: Key<scope::BillingRead>) -> ApiResult {
    let account_id = key.account_id();
    let now = state.clock.now();
    let (balance_cents, usage) = state
        .db(move |conn| {
            let balance = billing::balance(conn, account_id)?;
            let usage = spend::usage::account_usage(conn, account_id, now)?;
            Ok::<_, diesel::result::Error>((balance, usage))
        })
        .await?;
    let team = usage.team();
    ok(&Billing {
        balance_cents,
        month: usage.month.param(),
        usage_cents: team.cents,
        usage_gpu_hours: (team.gpu_seconds as f64 / 3600.0 * 100.0).round() / 100.0,
    })
}
