//! The spend sweep: every 15 seconds each console tries to sweep; one at a
//! time does. It compares every member's usage this month (charged runs
//! plus what running Pods have accrued) with their limit and the team's
//! with its budget, raises the alerts that are due, and stops, as the
//! console itself, the running Pods that must stop:
//!
//! - every Pod of an account whose balance, less what its running Pods
//!   have accrued, is at or below zero;
//! - every Pod of a team that has used its monthly budget;
//! - the Pods a member started, once they have used their monthly limit.
//!
//! Only one console sweeps at a time: the sweep runs in one transaction
//! that first takes a PostgreSQL advisory lock with
//! `pg_try_advisory_xact_lock`; a console that does not get it skips this
//! round. The lock and every change go with the transaction: a console
//! that dies mid-sweep has its transaction rolled back by PostgreSQL, so it
//! leaves no Pod stopped without its charge, no charge without its entry,
//! and the lock free for the next sweep. Each stop is also the ordinary
//! stop (the Pod row locked, its run re-checked), so a Pod stopped by a
//! person meanwhile is not charged twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Change, StopReason};
use crate::authz::Role;
use crate::db::schema::{
    accounts, member_spend_limits, memberships, monthly_usage, pods, role_spend_limits,
    spend_alerts, team_budgets, users,
};
use crate::ids::{AccountId, PodId, UserId};
use crate::pods::RUNNING;
use crate::pods::transitions::{self, SystemStop};
use crate::spend::alerts::{self, NewAlert};
use crate::spend::guard::reached;
use crate::spend::month::Month;
use crate::spend::usage::{RunningPod, int8};

/// The advisory lock a sweep holds for its transaction. Any constant unique
/// to this use will do.
pub const SWEEP_LOCK: i64 = 0x7463_7370_656e_6473; // "tcspends"

/// How often each console tries to sweep.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

diesel::define_sql_function! {
    /// True when the lock is taken; it is released when the transaction ends.
    fn pg_try_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

/// What one sweep did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// False: another console was sweeping, this one did nothing.
    pub swept: bool,
    /// Running Pods looked at.
    pub running: usize,
    pub stopped: Vec<StoppedPod>,
    /// Alerts raised.
    pub alerts: usize,
}

#[derive(Debug, Clone)]
pub struct StoppedPod {
    pub pod_id: PodId,
    pub account_id: AccountId,
    pub reason: StopReason,
    pub charged_cents: i64,
}

/// One sweep as of `now` (see the module's documentation).
pub fn sweep(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<SweepReport> {
    conn.transaction(|conn| {
        let locked: bool =
            diesel::select(pg_try_advisory_xact_lock(SWEEP_LOCK)).get_result(conn)?;
        if !locked {
            return Ok(SweepReport::default());
        }
        let mut plan = plan(conn, now)?;
        let mut report = SweepReport {
            swept: true,
            running: plan.running,
            ..SweepReport::default()
        };
        // The alerts due, then the stops, each in a few statements for
        // every account at once (round trips, not PostgreSQL, were most of
        // a sweep's time when each stop was its own).
        let alerts: Vec<NewAlert> = plan
            .accounts
            .iter_mut()
            .flat_map(|work| std::mem::take(&mut work.alerts))
            .collect();
        report.alerts = alerts::raise_all(conn, &alerts, now)?;
        let stops: Vec<SystemStop> = plan
            .accounts
            .iter()
            .flat_map(|work| &work.stops)
            .map(|(pod, reason)| SystemStop {
                pod_id: pod.id,
                run_started_at: pod.started_at.unwrap_or(now),
                reason: *reason,
            })
            .collect();
        if let Some(first) = plan.accounts.iter().flat_map(|w| &w.stops).next() {
            let cx = Change::system(first.0.account_id, now);
            for done in transitions::system_stop_all(conn, &cx, &stops)? {
                report.stopped.push(StoppedPod {
                    pod_id: done.pod_id,
                    account_id: done.account_id,
                    reason: done.reason,
                    charged_cents: done.charged_cents,
                });
            }
        }
        Ok(report)
    })
}

/// What an account stands at this month.
#[derive(Default)]
struct AccountState {
    /// Usage this month, running Pods included.
    team_used: i64,
    members_used: HashMap<UserId, i64>,
    /// What stopping every running Pod would charge.
    run_cents: i64,
    running: Vec<RunningPod>,
}

/// What to do in one account.
struct Work {
    alerts: Vec<NewAlert>,
    stops: Vec<(RunningPod, StopReason)>,
}

struct Plan {
    running: usize,
    /// In the order of the accounts' ids.
    accounts: Vec<Work>,
}

/// Reads everything in a few statements and decides.
fn plan(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<Plan> {
    let month = Month::of(now);
    let running: Vec<RunningPod> = pods::table
        .filter(pods::status.eq(RUNNING))
        .order((pods::account_id.asc(), pods::id.asc()))
        .select(RunningPod::as_select())
        .load(conn)?;
    // A deleted account raises no more alerts (its last entry is its
    // deletion); it has no running Pods either.
    let charged: Vec<(AccountId, Option<UserId>, Option<i64>)> = monthly_usage::table
        .inner_join(accounts::table)
        .filter(accounts::deleted_at.is_null())
        .filter(monthly_usage::month.eq(month.first_day()))
        .group_by((monthly_usage::account_id, monthly_usage::user_id))
        .select((
            monthly_usage::account_id,
            monthly_usage::user_id,
            int8(diesel::dsl::sum(monthly_usage::cost_cents)),
        ))
        .load(conn)?;

    let running_count = running.len();
    let mut states: BTreeMap<AccountId, AccountState> = BTreeMap::new();
    for pod in running {
        let state = states.entry(pod.account_id).or_default();
        let used = pod.in_month(month, now).cents;
        state.team_used += used;
        state.run_cents += pod.run_cents(now);
        if let Some(user) = pod.started_by {
            *state.members_used.entry(user).or_default() += used;
        }
        state.running.push(pod);
    }
    for (account, user, cents) in charged {
        let cents = cents.unwrap_or_default();
        let state = states.entry(account).or_default();
        state.team_used += cents;
        if let Some(user) = user {
            *state.members_used.entry(user).or_default() += cents;
        }
    }
    let ids: Vec<AccountId> = states.keys().copied().collect();
    let with_pods: Vec<AccountId> = states
        .iter()
        .filter(|(_, s)| !s.running.is_empty())
        .map(|(id, _)| *id)
        .collect();

    let balances: HashMap<AccountId, i64> = accounts::table
        .filter(accounts::id.eq_any(&with_pods))
        .select((accounts::id, accounts::balance_cents))
        .load::<(AccountId, i64)>(conn)?
        .into_iter()
        .collect();
    let budgets: HashMap<AccountId, i64> = team_budgets::table
        .filter(team_budgets::account_id.eq_any(&ids))
        .select((team_budgets::account_id, team_budgets::monthly_cents))
        .load::<(AccountId, i64)>(conn)?
        .into_iter()
        .collect();
    let mut role_limits: HashMap<AccountId, HashMap<Role, i64>> = HashMap::new();
    for (account, role, cents) in role_spend_limits::table
        .filter(role_spend_limits::account_id.eq_any(&ids))
        .select((
            role_spend_limits::account_id,
            role_spend_limits::role,
            role_spend_limits::monthly_cents,
        ))
        .load::<(AccountId, Role, i64)>(conn)?
    {
        role_limits.entry(account).or_default().insert(role, cents);
    }
    let member_limits: HashMap<(AccountId, UserId), i64> = member_spend_limits::table
        .filter(member_spend_limits::account_id.eq_any(&ids))
        .select((
            member_spend_limits::account_id,
            member_spend_limits::user_id,
            member_spend_limits::monthly_cents,
        ))
        .load::<(AccountId, UserId, i64)>(conn)?
        .into_iter()
        .map(|(a, u, c)| ((a, u), c))
        .collect();
    let with_role_limits: Vec<AccountId> = role_limits.keys().copied().collect();
    let roles: HashMap<(AccountId, UserId), Role> = memberships::table
        .filter(memberships::account_id.eq_any(&with_role_limits))
        .select((
            memberships::account_id,
            memberships::user_id,
            memberships::role,
        ))
        .load::<(AccountId, UserId, Role)>(conn)?
        .into_iter()
        .map(|(a, u, r)| ((a, u), r))
        .collect();
    let raised: HashSet<(AccountId, Option<UserId>, i32)> = spend_alerts::table
        .filter(spend_alerts::month.eq(month.first_day()))
        .filter(spend_alerts::account_id.eq_any(&ids))
        .select((
            spend_alerts::account_id,
            spend_alerts::user_id,
            spend_alerts::threshold,
        ))
        .load::<(AccountId, Option<UserId>, i32)>(conn)?
        .into_iter()
        .collect();

    // Per account: the alerts due, as (member, threshold, used, limit), and
    // the stops.
    type Due = Vec<(Option<UserId>, i32, i64, i64)>;
    type Stops = Vec<(RunningPod, StopReason)>;
    let mut decided: Vec<(AccountId, Due, Stops)> = Vec::new();
    for (account, state) in states {
        let mut due: Due = Vec::new();
        let mut stops = Vec::new();
        let budget = budgets.get(&account).copied();
        if let Some(budget) = budget {
            for t in alerts::reached(state.team_used, budget) {
                if !raised.contains(&(account, None, t)) {
                    due.push((None, t, state.team_used, budget));
                }
            }
        }
        let mut over: HashSet<UserId> = HashSet::new();
        let mut members: Vec<(UserId, i64)> = state.members_used.into_iter().collect();
        members.sort_unstable();
        for (user, used) in members {
            let limit = member_limits.get(&(account, user)).copied().or_else(|| {
                let role = roles.get(&(account, user))?;
                role_limits.get(&account)?.get(role).copied()
            });
            let Some(limit) = limit else { continue };
            for t in alerts::reached(used, limit) {
                if !raised.contains(&(account, Some(user), t)) {
                    due.push((Some(user), t, used, limit));
                }
            }
            if reached(used, limit) {
                over.insert(user);
            }
        }
        if state.running.is_empty() {
            decided.push((account, due, stops));
            continue;
        }
        let balance = balances.get(&account).copied().unwrap_or_default();
        let everyone = if balance - state.run_cents <= 0 {
            Some(StopReason::NoFunds)
        } else if budget.is_some_and(|b| reached(state.team_used, b)) {
            Some(StopReason::TeamBudget)
        } else {
            None
        };
        for pod in state.running {
            let reason = everyone.or_else(|| {
                pod.started_by
                    .filter(|u| over.contains(u))
                    .map(|_| StopReason::MemberLimit)
            });
            if let Some(reason) = reason {
                stops.push((pod, reason));
            }
        }
        decided.push((account, due, stops));
    }

    let named: Vec<UserId> = decided
        .iter()
        .flat_map(|(_, due, _)| due.iter().filter_map(|d| d.0))
        .collect();
    let names: HashMap<UserId, String> = users::table
        .filter(users::id.eq_any(&named))
        .select((users::id, users::display_name))
        .load::<(UserId, String)>(conn)?
        .into_iter()
        .collect();
    let accounts = decided
        .into_iter()
        .map(|(account_id, due, stops)| Work {
            alerts: due
                .into_iter()
                .map(|(user, threshold, used_cents, limit_cents)| NewAlert {
                    account_id,
                    member: user.map(|u| (u, names.get(&u).cloned().unwrap_or_default())),
                    threshold,
                    used_cents,
                    limit_cents,
                    month,
                })
                .collect(),
            stops,
        })
        .collect();
    Ok(Plan {
        running: running_count,
        accounts,
    })
}
