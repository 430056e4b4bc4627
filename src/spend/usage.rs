//! Usage: what each member's Pod runs cost in a calendar month. A run that
//! ends adds its share of each month it ran in to `monthly_usage` (one row
//! per month, account, member and Pod), in the transaction that charges
//! it; a run still going counts with what it has accrued so far. Both are
//! computed with one function, `run_in_month`, so that what a page shows,
//! what the sweep compares with a limit and what is finally charged agree
//! to the cent.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::upsert::excluded;
use time::OffsetDateTime;

use crate::authz::Role;
use crate::billing::usage_cents;
use crate::db::schema::{memberships, monthly_usage, pods, users};
use crate::ids::{AccountId, PodId, UserId};
use crate::pods::{RUNNING, billable_seconds, catalogue};
use crate::spend::month::Month;

/// Money and GPU time used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub cents: i64,
    /// Running seconds × GPUs: GPU-hours × 3600.
    pub gpu_seconds: i64,
}

impl Totals {
    pub fn add(&mut self, other: Totals) {
        self.cents += other.cents;
        self.gpu_seconds += other.gpu_seconds;
    }
}

/// The part of a run (from `started` to `end`, at `hourly_price_cents`)
/// that falls in `month`: (billable seconds, cents). The pieces of a run
/// over its months add up to exactly its seconds and its charge: each is
/// the difference of the run's cumulative figures at the month's edges.
pub fn run_in_month(
    started: OffsetDateTime,
    end: OffsetDateTime,
    hourly_price_cents: i64,
    month: Month,
) -> (i64, i64) {
    let clamp = |t: OffsetDateTime| t.clamp(started, end.max(started));
    let from = clamp(month.start().max(started));
    let to = clamp(month.next().start().min(end));
    if to <= from {
        return (0, 0);
    }
    let (before, through) = (
        billable_seconds(started, from),
        billable_seconds(started, to),
    );
    (
        through - before,
        usage_cents(through, hourly_price_cents) - usage_cents(before, hourly_price_cents),
    )
}

/// A run that ends: who started it, on which Pod.
pub struct EndedRun {
    pub account_id: AccountId,
    pub pod_id: PodId,
    pub started_by: Option<UserId>,
    pub started_at: OffsetDateTime,
    pub ended_at: OffsetDateTime,
    pub hourly_price_cents: i64,
    pub gpu_count: i32,
    /// What the run was charged (`billing::run_charge_cents`): its months'
    /// costs add up to it.
    pub charged_cents: i64,
}

/// Adds ended runs to the usage of each month they ran in, in one
/// statement (call it in the transaction that charges the runs).
pub fn record_runs(conn: &mut PgConnection, runs: &[EndedRun]) -> QueryResult<()> {
    let mut rows = Vec::new();
    for run in runs {
        let mut month = Month::of(run.started_at);
        let last = Month::of(run.ended_at);
        let mut uncounted = run.charged_cents;
        while month <= last {
            let (seconds, cents) =
                run_in_month(run.started_at, run.ended_at, run.hourly_price_cents, month);
            // The charge carries fractions of a cent from earlier runs, so
            // it may be less than the run's own cost: the months take
            // what was charged, the last one the rest.
            let cents = if month == last {
                uncounted
            } else {
                cents.min(uncounted)
            };
            uncounted -= cents;
            if seconds > 0 || cents > 0 {
                rows.push((
                    monthly_usage::month.eq(month.first_day()),
                    monthly_usage::account_id.eq(run.account_id),
                    monthly_usage::user_id.eq(run.started_by),
                    monthly_usage::pod_id.eq(run.pod_id),
                    monthly_usage::running_seconds.eq(seconds),
                    monthly_usage::gpu_seconds.eq(seconds * i64::from(run.gpu_count)),
                    monthly_usage::cost_cents.eq(cents),
                ));
            }
            month = month.next();
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    // Each row is another (month, Pod): no two can hit the same key.
    diesel::insert_into(monthly_usage::table)
        .values(rows)
        .on_conflict((
            monthly_usage::month,
            monthly_usage::account_id,
            monthly_usage::user_id,
            monthly_usage::pod_id,
        ))
        .do_update()
        .set((
            monthly_usage::running_seconds
                .eq(monthly_usage::running_seconds + excluded(monthly_usage::running_seconds)),
            monthly_usage::gpu_seconds
                .eq(monthly_usage::gpu_seconds + excluded(monthly_usage::gpu_seconds)),
            monthly_usage::cost_cents
                .eq(monthly_usage::cost_cents + excluded(monthly_usage::cost_cents)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A running Pod, as usage and limits see it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pods)]
pub struct RunningPod {
    pub id: PodId,
    pub account_id: AccountId,
    pub name: String,
    pub gpu_type: String,
    pub gpu_count: i32,
    pub hourly_price_cents: i64,
    pub started_at: Option<OffsetDateTime>,
    pub started_by: Option<UserId>,
}

impl RunningPod {
    fn started(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.started_at.unwrap_or(now)
    }

    /// What its current run has used in `month` so far.
    pub fn in_month(&self, month: Month, now: OffsetDateTime) -> Totals {
        let (seconds, cents) = run_in_month(self.started(now), now, self.hourly_price_cents, month);
        Totals {
            cents,
            gpu_seconds: seconds * i64::from(self.gpu_count),
        }
    }

    /// What stopping it now would charge (its whole current run).
    pub fn run_cents(&self, now: OffsetDateTime) -> i64 {
        usage_cents(
            billable_seconds(self.started(now), now),
            self.hourly_price_cents,
        )
    }

    /// "2 × A100 80GB".
    pub fn gpus(&self) -> String {
        format!("{} × {}", self.gpu_count, catalogue::label(&self.gpu_type))
    }
}

/// The account's running Pods (the partial index `pods_running_idx`).
pub fn running_pods(
    conn: &mut PgConnection,
    account_id: AccountId,
) -> QueryResult<Vec<RunningPod>> {
    pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::status.eq(RUNNING))
        .order((pods::started_at.asc(), pods::id.asc()))
        .select(RunningPod::as_select())
        .load(conn)
}

/// An account's usage this month as of `now`: what ended runs were
/// charged, by member, and its running Pods.
pub struct AccountUsage {
    pub month: Month,
    pub now: OffsetDateTime,
    pub charged: HashMap<Option<UserId>, Totals>,
    pub running: Vec<RunningPod>,
}

impl AccountUsage {
    /// One member's usage this month, running Pods included.
    pub fn member(&self, user: UserId) -> Totals {
        let mut totals = self.charged.get(&Some(user)).copied().unwrap_or_default();
        for pod in self.running.iter().filter(|p| p.started_by == Some(user)) {
            totals.add(pod.in_month(self.month, self.now));
        }
        totals
    }

    /// The whole account's usage this month.
    pub fn team(&self) -> Totals {
        let mut totals = Totals::default();
        for charged in self.charged.values() {
            totals.add(*charged);
        }
        for pod in &self.running {
            totals.add(pod.in_month(self.month, self.now));
        }
        totals
    }

    /// What stopping every running Pod now would charge.
    pub fn accrued_cents(&self) -> i64 {
        self.running.iter().map(|p| p.run_cents(self.now)).sum()
    }

    /// Cents per hour the running Pods cost.
    pub fn burn_rate_cents(&self) -> i64 {
        self.running.iter().map(|p| p.hourly_price_cents).sum()
    }

    /// GPUs of `gpu_type` that `user`'s running Pods hold.
    pub fn running_gpus(&self, user: UserId, gpu_type: &str) -> i64 {
        self.running
            .iter()
            .filter(|p| p.started_by == Some(user) && p.gpu_type == gpu_type)
            .map(|p| i64::from(p.gpu_count))
            .sum()
    }
}

diesel::define_sql_function! {
    /// PostgreSQL's int8(numeric): `sum` of a bigint is a numeric, and these
    /// sums (cents, seconds) fit a bigint.
    fn int8(x: diesel::sql_types::Nullable<diesel::sql_types::Numeric>) -> diesel::sql_types::Nullable<diesel::sql_types::BigInt>;
}

/// Charged usage of one month of an account, by member.
fn charged_by_member(
    conn: &mut PgConnection,
    account_id: AccountId,
    month: Month,
) -> QueryResult<HashMap<Option<UserId>, Totals>> {
    use diesel::dsl::sum;
    let rows: Vec<(Option<UserId>, Option<i64>, Option<i64>)> = monthly_usage::table
        .filter(monthly_usage::month.eq(month.first_day()))
        .filter(monthly_usage::account_id.eq(account_id))
        .group_by(monthly_usage::user_id)
        .select((
            monthly_usage::user_id,
            int8(sum(monthly_usage::cost_cents)),
            int8(sum(monthly_usage::gpu_seconds)),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user, cents, gpu_seconds)| {
            (
                user,
                Totals {
                    cents: cents.unwrap_or_default(),
                    gpu_seconds: gpu_seconds.unwrap_or_default(),
                },
            )
        })
        .collect())
}

/// The account's usage this month, as of `now`.
pub fn account_usage(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: OffsetDateTime,
) -> QueryResult<AccountUsage> {
    let month = Month::of(now);
    Ok(AccountUsage {
        month,
        now,
        charged: charged_by_member(conn, account_id, month)?,
        running: running_pods(conn, account_id)?,
    })
}

/// The display names of `ids` (former members included).
pub fn names(conn: &mut PgConnection, ids: &[UserId]) -> QueryResult<HashMap<UserId, String>> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::display_name))
        .load::<(UserId, String)>(conn)?
        .into_iter()
        .collect())
}

/// A member's usage in a month.
pub struct MemberUsage {
    /// None: runs started before runs recorded their starter.
    pub user_id: Option<UserId>,
    pub name: String,
    /// None: no longer a member.
    pub role: Option<Role>,
    pub totals: Totals,
}

/// A Pod's usage in a month.
pub struct PodUsage {
    pub pod_id: PodId,
    pub name: String,
    pub gpus: String,
    pub running: bool,
    pub totals: Totals,
}

/// A month of an account's usage, by member and by Pod, most first.
pub struct MonthReport {
    pub month: Month,
    pub members: Vec<MemberUsage>,
    pub pods: Vec<PodUsage>,
    pub total: Totals,
}

/// What the account used in `month`: ended runs as charged, running Pods
/// as accrued by `now`.
pub fn month_report(
    conn: &mut PgConnection,
    account_id: AccountId,
    month: Month,
    now: OffsetDateTime,
) -> QueryResult<MonthReport> {
    let rows: Vec<(Option<UserId>, PodId, i64, i64)> = monthly_usage::table
        .filter(monthly_usage::month.eq(month.first_day()))
        .filter(monthly_usage::account_id.eq(account_id))
        .select((
            monthly_usage::user_id,
            monthly_usage::pod_id,
            monthly_usage::cost_cents,
            monthly_usage::gpu_seconds,
        ))
        .load(conn)?;
    let mut by_member: HashMap<Option<UserId>, Totals> = HashMap::new();
    let mut by_pod: HashMap<PodId, Totals> = HashMap::new();
    for (user, pod, cents, gpu_seconds) in rows {
        let t = Totals { cents, gpu_seconds };
        by_member.entry(user).or_default().add(t);
        by_pod.entry(pod).or_default().add(t);
    }
    let running = running_pods(conn, account_id)?;
    let mut running_ids = Vec::new();
    for pod in &running {
        let t = pod.in_month(month, now);
        if t != Totals::default() {
            by_member.entry(pod.started_by).or_default().add(t);
            by_pod.entry(pod.id).or_default().add(t);
        }
        running_ids.push(pod.id);
    }

    let user_ids: Vec<UserId> = by_member.keys().flatten().copied().collect();
    let names: HashMap<UserId, String> = users::table
        .filter(users::id.eq_any(&user_ids))
        .select((users::id, users::display_name))
        .load::<(UserId, String)>(conn)?
        .into_iter()
        .collect();
    let roles: HashMap<UserId, Role> = memberships::table
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::user_id.eq_any(&user_ids))
        .select((memberships::user_id, memberships::role))
        .load::<(UserId, Role)>(conn)?
        .into_iter()
        .collect();
    let pod_ids: Vec<PodId> = by_pod.keys().copied().collect();
    let pod_rows: HashMap<PodId, (String, String, i32)> = pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::id.eq_any(&pod_ids))
        .select((pods::id, pods::name, pods::gpu_type, pods::gpu_count))
        .load::<(PodId, String, String, i32)>(conn)?
        .into_iter()
        .map(|(id, name, gpu, count)| (id, (name, gpu, count)))
        .collect();

    let mut total = Totals::default();
    let mut members: Vec<MemberUsage> = by_member
        .into_iter()
        .map(|(user_id, totals)| {
            total.add(totals);
            MemberUsage {
                name: match user_id {
                    Some(id) => names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "A former member".into()),
                    None => "Unattributed (started before runs recorded who started them)".into(),
                },
                role: user_id.and_then(|id| roles.get(&id).copied()),
                user_id,
                totals,
            }
        })
        .collect();
    members.sort_by(|a, b| {
        b.totals
            .cents
            .cmp(&a.totals.cents)
            .then(a.name.cmp(&b.name))
    });
    let mut pods: Vec<PodUsage> = by_pod
        .into_iter()
        .filter_map(|(pod_id, totals)| {
            let (name, gpu, count) = pod_rows.get(&pod_id)?;
            Some(PodUsage {
                pod_id,
                name: name.clone(),
                gpus: format!("{count} × {}", catalogue::label(gpu)),
                running: running_ids.contains(&pod_id),
                totals,
            })
        })
        .collect();
    pods.sort_by(|a, b| {
        b.totals
            .cents
            .cmp(&a.totals.cents)
            .then(a.name.cmp(&b.name))
    });
    Ok(MonthReport {
        month,
        members,
        pods,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn a_run_over_a_month_end_splits_into_pieces_that_add_up() {
        let start = datetime!(2026-11-30 23:00:00.5 UTC);
        let end = datetime!(2026-12-01 01:30 UTC);
        let nov = Month::of(start);
        let dec = nov.next();
        let price = 299;
        let (s1, c1) = run_in_month(start, end, price, nov);
        let (s2, c2) = run_in_month(start, end, price, dec);
        let total_seconds = billable_seconds(start, end);
        assert_eq!(s1 + s2, total_seconds);
        assert_eq!(c1 + c2, usage_cents(total_seconds, price));
        assert_eq!(s1, 3600);
        assert_eq!(run_in_month(start, end, price, dec.next()), (0, 0));
        assert_eq!(run_in_month(start, end, price, nov.previous()), (0, 0));
    }

    #[test]
    fn a_run_within_one_month_is_all_of_it() {
        let start = datetime!(2026-11-27 09:00 UTC);
        let end = start + Duration::minutes(90);
        assert_eq!(run_in_month(start, end, 299, Month::of(start)), (5400, 449));
    }
}
