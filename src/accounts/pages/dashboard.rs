//! The dashboard of the current account, and `/`, which sends people to
//! their personal account (or to sign in).
//!
//! Everyone sees their own usage this month and their limit; those who
//! may see billing also the balance, the month's spend against the budget
//! and what running Pods burn per hour. Without billing access usage is
//! GPU-hours and a share of the limit, never money (SPEC §2, §10).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::authz::{Capability, can};
use crate::format::{gpu_hours, money, percent};
use crate::ids::UserId;
use crate::pods::catalogue;
use crate::spend::limits::LimitSource;
use crate::spend::{self, alerts};
use crate::web::auth::{SignedIn, Visit};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w};

/// The viewer's own usage this month.
struct OwnUsage {
    gpu_hours: String,
    /// Money: only with billing access.
    spent: Option<String>,
    /// "your own limit", "the Dev role's limit"; None: no limit.
    limit_of: Option<String>,
    limit: Option<String>,
    share: Option<i64>,
    /// "4 × A100 80GB (2 running)".
    quotas: Vec<String>,
}

/// The account's spend this month, for those who may see billing.
struct TeamSpend {
    balance: String,
    spent: String,
    budget: Option<String>,
    budget_share: Option<i64>,
    burn_rate: String,
}

struct RunningRow {
    name: String,
    gpus: String,
    started_by: String,
    /// Per hour; only with billing access.
    burn: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    account_id: crate::ids::AccountId,
    account_name: String,
    is_team: bool,
    is_owner: bool,
    role: &'static str,
    can_pods: bool,
    can_billing: bool,
    can_members: bool,
    month: String,
    /// Everyone's (SPEC §2: see own usage this month and own limit).
    own: Option<OwnUsage>,
    team: Option<TeamSpend>,
    show_running: bool,
    running: Vec<RunningRow>,
}

pub async fn home(signed_in: SignedIn) -> AppResult<HttpResponse> {
    Ok(match signed_in.personal_account() {
        Some(m) => w::see_other(&format!("/accounts/{}", m.account.id)),
        // Someone whose every account is deleted still has their profile
        // (to export their data or delete their user).
        None => w::see_other("/profile"),
    })
}

pub async fn show(
    state: web::Data<AppState>,
    visit: Visit<can::UseAccount>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let (member, overview) = visit
        .db(move |conn, access| spend::overview(conn, access.account_id(), now))
        .await?;
    let account = &member.membership.account;
    let account_id = account.id;
    let money_shown = member.can(Capability::ViewBilling);
    let me = member.user().id;
    let role = member.role();

    let used = overview.usage.member(me);
    let applied = overview.limits.member_limit(me, Some(role));
    let quotas = catalogue::CATALOGUE
        .iter()
        .filter_map(|gpu| {
            let (max, _) = overview.quotas.quota(me, Some(role), gpu.id)?;
            let running = overview.usage.running_gpus(me, gpu.id);
            Some(format!("{max} × {} ({running} running)", gpu.label))
        })
        .collect();
    let own = member.can(Capability::ViewOwnUsage).then(|| OwnUsage {
        gpu_hours: gpu_hours(used.gpu_seconds),
        spent: money_shown.then(|| money(used.cents)),
        limit_of: applied.map(|(_, source)| match source {
            LimitSource::Member => "your own monthly limit".to_string(),
            LimitSource::Role(role) => format!("the {role} role's monthly limit"),
        }),
        limit: applied
            .filter(|_| money_shown)
            .map(|(cents, _)| money(cents)),
        share: applied.map(|(cents, _)| percent(used.cents, cents)),
        quotas,
    });
    let team = money_shown.then(|| {
        let spent = overview.usage.team();
        let budget = overview.limits.budget_cents;
        TeamSpend {
            balance: money(account.balance_cents),
            spent: money(spent.cents),
            budget: budget.map(money),
            budget_share: budget.map(|b| percent(spent.cents, b)),
            burn_rate: money(overview.usage.burn_rate_cents()),
        }
    });
    let show_running = money_shown || member.can(Capability::UsePods);
    let running = overview
        .usage
        .running
        .iter()
        .map(|p| RunningRow {
            name: p.name.clone(),
            gpus: p.gpus(),
            started_by: started_by(p.started_by, &overview.starters),
            burn: money_shown.then(|| money(p.hourly_price_cents)),
        })
        .collect();
    let notices = alerts::banners(
        &overview.alerts,
        me,
        member.can(Capability::ManageSpend),
        money_shown,
        overview.month,
    )
    .into_iter()
    .map(|b| (b.text, b.reached));

    w::page(&DashboardPage {
        layout: member.layout()?.section("dashboard").with_notices(notices),
        account_id,
        account_name: account.name.clone(),
        is_team: account.is_team(),
        is_owner: account.owner_id == me,
        role: role.label(),
        can_pods: member.can(Capability::UsePods),
        can_billing: money_shown,
        can_members: member.can(Capability::ViewMembers),
        month: overview.month.label(),
        own,
        team,
        show_running,
        running,
    })
}

/// Who started a run: their name, or a dash for a run started before
/// runs recorded it.
fn started_by(user: Option<UserId>, names: &HashMap<UserId, String>) -> String {
    user.and_then(|u| names.get(&u))
        .cloned()
        .unwrap_or_else(|| "—".to_string())
}
