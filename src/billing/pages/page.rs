//! GET /accounts/{id}/billing: balance, usage accrued by running Pods, the
//! billing email, Add funds, and the transaction history (Billing, Admin).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::authz::{Capability, can};
use crate::billing::amount;
use crate::billing::history::{self, Cursor, Position, Transaction};
use crate::format::money;
use crate::ids::AccountId;
use crate::pods;
use crate::spend::Month;
use crate::spend::alerts;
use crate::spend::usage::{self, MonthReport};
use crate::web::auth::{Member, Visit};
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::{self as w};

#[derive(Template)]
#[template(path = "billing/show.html")]
struct BillingPage {
    layout: Layout,
    account_id: AccountId,
    balance: String,
    /// At or below zero: Pods cannot start.
    cannot_start: bool,
    running_pods: i64,
    accrued: String,
    forms: Forms,
    funds_hint: String,
    transactions: Vec<Transaction>,
    older: Option<String>,
    newer: Option<String>,
    /// This month's usage by member and by Pod.
    report: MonthReport,
    /// (param, label) of last month, one click away.
    previous_month: (String, String),
}

/// What the two forms show: the values typed and their messages.
#[derive(Default)]
pub struct Forms {
    pub amount: String,
    pub amount_error: Option<String>,
    pub email: Option<String>,
    pub email_error: Option<String>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<String>,
    after: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    visit: Visit<can::ViewBilling>,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let bad_cursor = || AppError::BadRequest("This page of the history does not exist.".into());
    let position = match (&query.before, &query.after) {
        (Some(c), None) => Position::Before(Cursor::parse(c).ok_or_else(bad_cursor)?),
        (None, Some(c)) => Position::After(Cursor::parse(c).ok_or_else(bad_cursor)?),
        (None, None) => Position::Newest,
        (Some(_), Some(_)) => return Err(bad_cursor()),
    };
    let now = state.clock.now();
    let (member, loaded) = visit
        .db(move |conn, access| load(conn, access.account_id(), position, now))
        .await?;
    page(&member, loaded, now, StatusCode::OK, Forms::default())
}

type Loaded = ((i64, i64), history::Page, MonthReport, Vec<alerts::Alert>);

/// The running Pods' accrued cost, a page of the history, this month's
/// report and alerts.
fn load(
    conn: &mut diesel::PgConnection,
    account_id: AccountId,
    position: Position,
    now: time::OffsetDateTime,
) -> diesel::QueryResult<Loaded> {
    let month = Month::of(now);
    Ok((
        pods::accrued_usage(conn, account_id, now)?,
        history::page(conn, account_id, position)?,
        usage::month_report(conn, account_id, month, now)?,
        alerts::this_month(conn, account_id, month)?,
    ))
}

/// The billing page with `forms` as typed (a refused form keeps its input).
pub async fn render<C>(
    state: &AppState,
    member: &Member<C>,
    status: StatusCode,
    forms: Forms,
    position: Position,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let now = state.clock.now();
    let loaded = state
        .db(move |conn| load(conn, account_id, position, now))
        .await?;
    page(member, loaded, now, status, forms)
}

fn page<C>(
    member: &Member<C>,
    ((running_pods, accrued), page, report, alerts): Loaded,
    now: time::OffsetDateTime,
    status: StatusCode,
    forms: Forms,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let month = Month::of(now);
    let sees_everyone = member.can(Capability::ManageSpend);
    let notices = alerts::banners(&alerts, member.user().id, sees_everyone, true, month)
        .into_iter()
        .map(|b| (b.text, b.reached));
    // Balance and billing email came with the membership, this request.
    let account = &member.membership.account;
    let mut forms = forms;
    if forms.email.is_none() {
        forms.email = account.billing_email.clone();
    }
    w::render(
        status,
        &BillingPage {
            layout: member.layout()?.section("billing").with_notices(notices),
            account_id,
            balance: money(account.balance_cents),
            cannot_start: account.balance_cents <= 0,
            running_pods,
            accrued: money(accrued),
            forms,
            funds_hint: format!(
                "From {} to {}, up to two decimals. The payment is simulated.",
                money(amount::MIN_FUNDS_CENTS),
                money(amount::MAX_FUNDS_CENTS)
            ),
            transactions: page.rows,
            older: page.older.map(|c| c.encode()),
            newer: page.newer.map(|c| c.encode()),
            report,
            previous_month: (month.previous().param(), month.previous().label()),
        },
    )
}
