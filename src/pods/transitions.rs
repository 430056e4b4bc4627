//! What happens to a Pod: created, started, stopped, terminated. Each
//! function is one database transaction that locks the Pod row (SELECT ...
//! FOR UPDATE), checks the transition is possible, changes the state,
//! charges the usage of the run that ends, and writes the audit entries:
//! two concurrent stops of one Pod are serialised and charge once.
//!
//! Starting also locks the account row (after the Pod's, as every
//! transition that charges does) before it reads the balance, the usage
//! and the running Pods its spend controls need: concurrent starts in an
//! account are serialised, so together they cannot exceed a GPU quota or
//! a limit that each alone respects.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Action, Change, StopReason};
use crate::billing::{self, usage_cents};
use crate::db::schema::pods;
use crate::format::{duration, money};
use crate::ids::{AccountId, PodId, UserId};
use crate::pods::catalogue::GpuType;
use crate::pods::{Pod, PodsError, RUNNING, STOPPED, TERMINATED, billable_seconds};
use crate::spend::{self, guard, usage};

/// A validated Pod to create.
pub struct NewPod {
    pub name: String,
    pub gpu: &'static GpuType,
    pub gpu_count: i32,
    pub image: String,
}

/// A transition's result: the Pod after it, and the usage it charged.
pub struct Outcome {
    pub pod: Pod,
    pub charged_cents: i64,
    pub run_seconds: i64,
}

/// New Pods are created stopped: starting one is a separate, billed step.
/// A member whose limit (or whose team's budget) is used up cannot create
/// one, nor one with more GPUs than their quota would ever let run.
pub fn create(conn: &mut PgConnection, cx: &Change, new: NewPod) -> Result<Pod, PodsError> {
    let hourly = new.gpu.hourly_price_cents * i64::from(new.gpu_count);
    conn.transaction(|conn| {
        if let Some(user) = cx.actor.id
            && let Some(block) =
                guard::check_create(conn, cx.account_id, user, new.gpu.id, new.gpu_count, cx.now)?
        {
            return Err(PodsError::Blocked {
                name: new.name.clone(),
                block,
            });
        }
        let pod: Pod = diesel::insert_into(pods::table)
            .values((
                pods::id.eq(PodId::new()),
                pods::account_id.eq(cx.account_id),
                pods::name.eq(&new.name),
                pods::gpu_type.eq(new.gpu.id),
                pods::gpu_count.eq(new.gpu_count),
                pods::image.eq(&new.image),
                pods::status.eq(STOPPED),
                pods::hourly_price_cents.eq(hourly),
                pods::created_at.eq(cx.now),
            ))
            .returning(Pod::as_returning())
            .get_result(conn)?;
        cx.record(
            conn,
            Action::PodCreated {
                pod: pod.id,
                name: pod.name.clone(),
                gpu_type: pod.gpu_type.clone(),
                gpu_count: pod.gpu_count,
                image: pod.image.clone(),
                hourly_price_cents: hourly,
                status: STOPPED,
            },
        )?;
        Ok(pod)
    })
}

/// The Pod, locked until the transaction ends; another account's → 404.
fn lock(conn: &mut PgConnection, account_id: AccountId, pod_id: PodId) -> QueryResult<Pod> {
    pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::id.eq(pod_id))
        .select(Pod::as_select())
        .for_update()
        .first(conn)
}

fn terminated(pod: &Pod) -> PodsError {
    PodsError::Terminated {
        name: pod.name.clone(),
    }
}

pub fn start(conn: &mut PgConnection, cx: &Change, pod_id: PodId) -> Result<Outcome, PodsError> {
    conn.transaction(|conn| {
        let pod = lock(conn, cx.account_id, pod_id)?;
        match pod.status.as_str() {
            TERMINATED => return Err(terminated(&pod)),
            RUNNING => {
                return Err(PodsError::AlreadyRunning { name: pod.name });
            }
            _ => {}
        }
        let balance = spend::lock_account(conn, cx.account_id)?;
        let usage = usage::account_usage(conn, cx.account_id, cx.now)?;
        let accrued = usage.accrued_cents();
        if balance - accrued <= 0 {
            return Err(PodsError::NoFunds {
                name: pod.name,
                balance_cents: balance,
                accrued_cents: accrued,
            });
        }
        if let Some(user) = cx.actor.id
            && let Some(block) = guard::check_start(
                conn,
                cx.account_id,
                user,
                &pod.gpu_type,
                pod.gpu_count,
                &usage,
            )?
        {
            return Err(PodsError::Blocked {
                name: pod.name,
                block,
            });
        }
        let pod: Pod = diesel::update(pods::table.find(pod.id))
            .set((
                pods::status.eq(RUNNING),
                pods::started_at.eq(cx.now),
                pods::started_by.eq(cx.actor.id),
            ))
            .returning(Pod::as_returning())
            .get_result(conn)?;
        cx.record(
            conn,
            Action::PodStarted {
                pod: pod.id,
                name: pod.name.clone(),
                gpus: pod.gpus(),
                from: STOPPED,
                to: RUNNING,
                balance_cents: balance,
            },
        )?;
        Ok(Outcome {
            pod,
            charged_cents: 0,
            run_seconds: 0,
        })
    })
}

/// The run a transition ends: its seconds, its charge, who started it.
struct EndedRun {
    seconds: i64,
    cents: i64,
    started_by: Option<UserId>,
    started_by_name: Option<String>,
}

/// Ends the Pod's current run (if running): charges it, adds it to its
/// starter's usage of each month it ran in, and returns it.
fn end_run(conn: &mut PgConnection, cx: &Change, pod: &Pod) -> QueryResult<EndedRun> {
    let started_by_name = match pod.started_by {
        Some(user) => Some(crate::accounts::models::display_name(conn, user)?),
        None => None,
    };
    let Some(started_at) = pod.started_at else {
        return Ok(EndedRun {
            seconds: 0,
            cents: 0,
            started_by: None,
            started_by_name: None,
        });
    };
    let seconds = billable_seconds(started_at, cx.now);
    let cents = usage_cents(seconds, pod.hourly_price_cents);
    let description = format!(
        "Pod {}: {} on {} at {}/h",
        pod.name,
        duration(seconds),
        pod.gpus(),
        money(pod.hourly_price_cents)
    );
    let charge = billing::Usage {
        pod_id: pod.id,
        pod_name: &pod.name,
        description: &description,
        seconds,
        amount_cents: cents,
    };
    billing::charge_usage(conn, cx, &charge)?;
    usage::record_run(
        conn,
        &usage::EndedRun {
            account_id: pod.account_id,
            pod_id: pod.id,
            started_by: pod.started_by,
            started_at,
            ended_at: cx.now,
            hourly_price_cents: pod.hourly_price_cents,
            gpu_count: pod.gpu_count,
        },
    )?;
    Ok(EndedRun {
        seconds,
        cents,
        started_by: pod.started_by,
        started_by_name,
    })
}

/// Stops a Pod locked by the caller and known to be running.
fn stop_locked(
    conn: &mut PgConnection,
    cx: &Change,
    pod: Pod,
    reason: Option<StopReason>,
) -> QueryResult<Outcome> {
    let run = end_run(conn, cx, &pod)?;
    let pod: Pod = diesel::update(pods::table.find(pod.id))
        .set((
            pods::status.eq(STOPPED),
            pods::started_at.eq(None::<OffsetDateTime>),
            pods::started_by.eq(None::<UserId>),
            pods::total_running_seconds.eq(pods::total_running_seconds + run.seconds),
            pods::total_charged_cents.eq(pods::total_charged_cents + run.cents),
        ))
        .returning(Pod::as_returning())
        .get_result(conn)?;
    cx.record(
        conn,
        Action::PodStopped {
            pod: pod.id,
            name: pod.name.clone(),
            gpus: pod.gpus(),
            from: RUNNING,
            to: STOPPED,
            running_seconds: run.seconds,
            charged_cents: run.cents,
            started_by: run.started_by,
            started_by_name: run.started_by_name,
            reason,
        },
    )?;
    Ok(Outcome {
        pod,
        charged_cents: run.cents,
        run_seconds: run.seconds,
    })
}

pub fn stop(conn: &mut PgConnection, cx: &Change, pod_id: PodId) -> Result<Outcome, PodsError> {
    conn.transaction(|conn| {
        let pod = lock(conn, cx.account_id, pod_id)?;
        match pod.status.as_str() {
            TERMINATED => return Err(terminated(&pod)),
            STOPPED => {
                return Err(PodsError::AlreadyStopped { name: pod.name });
            }
            _ => {}
        }
        Ok(stop_locked(conn, cx, pod, None)?)
    })
}

/// The console stops a Pod on its own (`cx` is the system's), if it is
/// still in the run that began at `run_started_at` and no one else holds
/// it right now (SKIP LOCKED: a person stopping it wins, and the next
/// sweep looks again). None when it was left alone.
pub fn system_stop(
    conn: &mut PgConnection,
    cx: &Change,
    pod_id: PodId,
    run_started_at: OffsetDateTime,
    reason: StopReason,
) -> QueryResult<Option<Outcome>> {
    conn.transaction(|conn| {
        let pod: Option<Pod> = pods::table
            .filter(pods::account_id.eq(cx.account_id))
            .filter(pods::id.eq(pod_id))
            .select(Pod::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .optional()?;
        match pod {
            Some(pod) if pod.is_running() && pod.started_at == Some(run_started_at) => {
                stop_locked(conn, cx, pod, Some(reason)).map(Some)
            }
            _ => Ok(None),
        }
    })
}

/// Terminates a running or stopped Pod, charging a running one's usage.
pub fn terminate(
    conn: &mut PgConnection,
    cx: &Change,
    pod_id: PodId,
) -> Result<Outcome, PodsError> {
    conn.transaction(|conn| {
        let pod = lock(conn, cx.account_id, pod_id)?;
        if pod.is_terminated() {
            return Err(terminated(&pod));
        }
        let run = end_run(conn, cx, &pod)?;
        let pod_before = pod.status.clone();
        let pod: Pod = diesel::update(pods::table.find(pod.id))
            .set((
                pods::status.eq(TERMINATED),
                pods::started_at.eq(None::<OffsetDateTime>),
                pods::started_by.eq(None::<UserId>),
                pods::terminated_at.eq(cx.now),
                pods::total_running_seconds.eq(pods::total_running_seconds + run.seconds),
                pods::total_charged_cents.eq(pods::total_charged_cents + run.cents),
            ))
            .returning(Pod::as_returning())
            .get_result(conn)?;
        cx.record(
            conn,
            Action::PodTerminated {
                pod: pod.id,
                name: pod.name.clone(),
                gpus: pod.gpus(),
                from: pod_before,
                to: TERMINATED,
                running_seconds: run.seconds,
                charged_cents: run.cents,
                started_by: run.started_by,
                started_by_name: run.started_by_name,
            },
        )?;
        Ok(Outcome {
            pod,
            charged_cents: run.cents,
            run_seconds: run.seconds,
        })
    })
}
