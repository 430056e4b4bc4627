//! What happens to a Pod: created, started, stopped, terminated. Each
//! function is one database transaction that locks the Pod row (SELECT ...
//! FOR UPDATE), checks the transition is possible, changes the state,
//! charges the usage of the run that ends, and writes the audit entries:
//! two concurrent stops of one Pod are serialised and charge once.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Action, Change};
use crate::billing::{self, usage_cents};
use crate::db::schema::pods;
use crate::format::{duration, money};
use crate::ids::{AccountId, PodId};
use crate::pods::catalogue::GpuType;
use crate::pods::{Pod, PodsError, RUNNING, STOPPED, TERMINATED, billable_seconds};

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
pub fn create(conn: &mut PgConnection, cx: &Change, new: NewPod) -> Result<Pod, PodsError> {
    let hourly = new.gpu.hourly_price_cents * i64::from(new.gpu_count);
    conn.transaction(|conn| {
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
        let balance = billing::balance(conn, cx.account_id)?;
        if balance <= 0 {
            return Err(PodsError::NoFunds {
                name: pod.name,
                balance_cents: balance,
            });
        }
        let pod: Pod = diesel::update(pods::table.find(pod.id))
            .set((pods::status.eq(RUNNING), pods::started_at.eq(cx.now)))
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

/// Ends the Pod's current run (if running): charges it and moves it into
/// the Pod's totals. Returns (seconds, cents).
fn end_run(conn: &mut PgConnection, cx: &Change, pod: &Pod) -> QueryResult<(i64, i64)> {
    let Some(started_at) = pod.started_at else {
        return Ok((0, 0));
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
    let usage = billing::Usage {
        pod_id: pod.id,
        pod_name: &pod.name,
        description: &description,
        seconds,
        amount_cents: cents,
    };
    billing::charge_usage(conn, cx, &usage)?;
    Ok((seconds, cents))
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
        let (seconds, cents) = end_run(conn, cx, &pod)?;
        let pod: Pod = diesel::update(pods::table.find(pod.id))
            .set((
                pods::status.eq(STOPPED),
                pods::started_at.eq(None::<OffsetDateTime>),
                pods::total_running_seconds.eq(pods::total_running_seconds + seconds),
                pods::total_charged_cents.eq(pods::total_charged_cents + cents),
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
                running_seconds: seconds,
                charged_cents: cents,
            },
        )?;
        Ok(Outcome {
            pod,
            charged_cents: cents,
            run_seconds: seconds,
        })
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
        let (seconds, cents) = end_run(conn, cx, &pod)?;
        let pod_before = pod.status.clone();
        let pod: Pod = diesel::update(pods::table.find(pod.id))
            .set((
                pods::status.eq(TERMINATED),
                pods::started_at.eq(None::<OffsetDateTime>),
                pods::terminated_at.eq(cx.now),
                pods::total_running_seconds.eq(pods::total_running_seconds + seconds),
                pods::total_charged_cents.eq(pods::total_charged_cents + cents),
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
                running_seconds: seconds,
                charged_cents: cents,
            },
        )?;
        Ok(Outcome {
            pod,
            charged_cents: cents,
            run_seconds: seconds,
        })
    })
}
