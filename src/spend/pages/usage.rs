//! GET /accounts/{id}/billing/usage?month=2026-11: a month's usage by
//! member and by Pod, GPU-hours and money (Billing, Admin), with the
//! months before and after one click away. Without `month`: this month.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::authz::can;
use crate::ids::AccountId;
use crate::spend::Month;
use crate::spend::usage::{self, MonthReport};
use crate::web::auth::Visit;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::{self as w};

#[derive(Template)]
#[template(path = "spend/usage.html")]
struct UsagePage {
    layout: Layout,
    account_id: AccountId,
    report: MonthReport,
    current: bool,
    /// (param, label) of the months before and after.
    previous: (String, String),
    next: Option<(String, String)>,
}

#[derive(Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    visit: Visit<can::ManageSpend>,
    query: web::Query<MonthQuery>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let this_month = Month::of(now);
    let month = match query.month.as_deref() {
        None => this_month,
        Some(raw) => Month::parse(raw).ok_or_else(|| {
            AppError::BadRequest("There is no such month: write it as 2026-11.".into())
        })?,
    };
    let (member, report) = visit
        .db(move |conn, access| usage::month_report(conn, access.account_id(), month, now))
        .await?;
    let account_id = member.account_id();
    w::page(&UsagePage {
        layout: member.layout()?.section("billing"),
        account_id,
        report,
        current: month == this_month,
        previous: (month.previous().param(), month.previous().label()),
        next: (month < this_month).then(|| (month.next().param(), month.next().label())),
    })
}
