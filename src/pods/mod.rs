//! Pods: the account's GPU machines. No machine exists: a Pod is a record
//! whose state changes (create, start, stop, terminate) are real,
//! persisted, audited and billed. Every lookup is scoped by account in the
//! query, so another account's Pod id is simply not found.

pub mod catalogue;
pub mod pages;
pub mod transitions;

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::db::schema::pods;
use crate::ids::{AccountId, PodId, UserId};

/// What the pods core refuses: transitions the Pod's state does not allow.
#[derive(Debug, thiserror::Error)]
pub enum PodsError {
    #[error("the Pod is terminated")]
    Terminated { name: String },
    #[error("the Pod is already running")]
    AlreadyRunning { name: String },
    #[error("the Pod is already stopped")]
    AlreadyStopped { name: String },
    /// The account's balance, less what its running Pods have accrued, is
    /// at or below zero.
    #[error("no funds to start the Pod")]
    NoFunds {
        name: String,
        balance_cents: i64,
        accrued_cents: i64,
    },
    /// A spend limit or a GPU quota keeps the member from it.
    #[error("blocked by a spend control")]
    Blocked {
        name: String,
        block: crate::spend::Block,
    },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(PodsError);

pub const RUNNING: &str = "running";
pub const STOPPED: &str = "stopped";
pub const TERMINATED: &str = "terminated";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pods)]
pub struct Pod {
    pub id: PodId,
    pub account_id: AccountId,
    pub name: String,
    pub gpu_type: String,
    pub gpu_count: i32,
    pub image: String,
    pub status: String,
    /// Price of the whole Pod (all its GPUs) per hour, in cents.
    pub hourly_price_cents: i64,
    pub created_at: OffsetDateTime,
    /// Start of the running interval not yet charged; set while running.
    pub started_at: Option<OffsetDateTime>,
    /// Running time of the intervals already charged.
    pub total_running_seconds: i64,
    pub total_charged_cents: i64,
    pub terminated_at: Option<OffsetDateTime>,
    /// Who started the current run; set while running (when known).
    pub started_by: Option<UserId>,
}

impl Pod {
    pub fn is_running(&self) -> bool {
        self.status == RUNNING
    }

    pub fn is_terminated(&self) -> bool {
        self.status == TERMINATED
    }

    /// "2 × H100 80GB".
    pub fn gpus(&self) -> String {
        format!("{} × {}", self.gpu_count, catalogue::label(&self.gpu_type))
    }

    /// Seconds of the current, uncharged running interval.
    pub fn current_run_seconds(&self, now: OffsetDateTime) -> i64 {
        self.started_at
            .map_or(0, |start| billable_seconds(start, now))
    }

    pub fn running_seconds(&self, now: OffsetDateTime) -> i64 {
        self.total_running_seconds + self.current_run_seconds(now)
    }

    /// Charged so far plus what the current interval would cost now.
    pub fn cost_so_far_cents(&self, now: OffsetDateTime) -> i64 {
        self.total_charged_cents + self.accrued_cents(now)
    }

    /// What stopping the Pod now would charge.
    pub fn accrued_cents(&self, now: OffsetDateTime) -> i64 {
        crate::billing::run_charge_cents(
            self.total_running_seconds,
            self.total_charged_cents,
            self.current_run_seconds(now),
            self.hourly_price_cents,
        )
    }

    /// The first 12 hex digits of the id: the Pod's host name.
    pub fn short_id(&self) -> String {
        self.id.as_uuid().simple().to_string()[..12].to_string()
    }
}

/// Whole seconds from `start` to `end`, a started second counting as one.
pub fn billable_seconds(start: OffsetDateTime, end: OffsetDateTime) -> i64 {
    let micros = (end - start).whole_microseconds().max(0);
    i64::try_from((micros + 999_999) / 1_000_000).unwrap_or(i64::MAX)
}

/// The account's Pods, newest first, terminated ones last, each with the
/// name of who started its current run.
pub fn list_pods(
    conn: &mut PgConnection,
    account_id: AccountId,
) -> QueryResult<Vec<(Pod, Option<String>)>> {
    use crate::db::schema::users;
    let mut all: Vec<(Pod, Option<String>)> = pods::table
        .left_join(users::table)
        .filter(pods::account_id.eq(account_id))
        .order((pods::created_at.desc(), pods::id.desc()))
        .select((Pod::as_select(), users::display_name.nullable()))
        .load(conn)?;
    all.sort_by_key(|(pod, _)| pod.is_terminated());
    Ok(all)
}

/// One Pod of the account (diesel's NotFound, a 404, when another account owns it).
pub fn find_pod(conn: &mut PgConnection, account_id: AccountId, pod_id: PodId) -> QueryResult<Pod> {
    pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::id.eq(pod_id))
        .select(Pod::as_select())
        .first(conn)
}

/// How many Pods are running and what they would be charged if they all
/// stopped at `now`.
pub fn accrued_usage(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: OffsetDateTime,
) -> QueryResult<(i64, i64)> {
    let running: Vec<Pod> = pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::status.eq(RUNNING))
        .select(Pod::as_select())
        .load(conn)?;
    let cents = running.iter().map(|p| p.accrued_cents(now)).sum();
    Ok((running.len() as i64, cents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn a_started_second_counts_as_a_whole_one() {
        let t = datetime!(2026-11-27 10:00 UTC);
        assert_eq!(billable_seconds(t, t), 0);
        assert_eq!(billable_seconds(t, t + Duration::microseconds(1)), 1);
        assert_eq!(billable_seconds(t, t + Duration::minutes(90)), 5400);
        assert_eq!(billable_seconds(t + Duration::seconds(5), t), 0);
    }
}
