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
use crate::billing::{self, run_charge_cents};
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
        // A deleted account takes no new Pod (its deletion holds this lock).
        crate::accounts::leaving::hold_live_account(conn, cx.account_id)?;
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

/// The run a transition ends: its seconds, its charge, who started it,
/// and the entry of its charge (None when nothing was charged).
struct EndedRun {
    seconds: i64,
    cents: i64,
    started_by: Option<UserId>,
    started_by_name: Option<String>,
    charge_entry: Option<Action>,
}

/// Ends the current runs of `pods` (locked by the caller) at `cx.now`:
/// charges them, adds them to their starters' usage of each month they ran
/// in, and returns them in order. A few statements however many Pods:
/// one stop and the sweep's hundred stops take the same path. A Pod that
/// is not running ends a run of nothing.
fn end_runs(conn: &mut PgConnection, cx: &Change, pods: &[&Pod]) -> QueryResult<Vec<EndedRun>> {
    let starters: Vec<UserId> = pods.iter().filter_map(|p| p.started_by).collect();
    let names = if starters.is_empty() {
        Default::default()
    } else {
        usage::names(conn, &starters)?
    };
    let runs: Vec<(i64, i64, String)> = pods
        .iter()
        .map(|pod| {
            let seconds = pod
                .started_at
                .map_or(0, |started| billable_seconds(started, cx.now));
            let description = format!(
                "Pod {}: {} on {} at {}/h",
                pod.name,
                duration(seconds),
                pod.gpus(),
                money(pod.hourly_price_cents)
            );
            (
                seconds,
                run_charge_cents(
                    pod.total_running_seconds,
                    pod.total_charged_cents,
                    seconds,
                    pod.hourly_price_cents,
                ),
                description,
            )
        })
        .collect();
    let charges: Vec<billing::Usage<'_>> = pods
        .iter()
        .zip(&runs)
        .map(|(pod, (seconds, cents, description))| billing::Usage {
            account_id: pod.account_id,
            pod_id: pod.id,
            pod_name: &pod.name,
            description,
            seconds: *seconds,
            amount_cents: *cents,
        })
        .collect();
    let entries = billing::charge_usages(conn, cx, &charges)?;
    let ended: Vec<usage::EndedRun> = pods
        .iter()
        .zip(&runs)
        .filter_map(|(pod, (_, cents, _))| {
            Some(usage::EndedRun {
                account_id: pod.account_id,
                pod_id: pod.id,
                started_by: pod.started_by,
                started_at: pod.started_at?,
                ended_at: cx.now,
                hourly_price_cents: pod.hourly_price_cents,
                gpu_count: pod.gpu_count,
                charged_cents: *cents,
            })
        })
        .collect();
    usage::record_runs(conn, &ended)?;
    Ok(pods
        .iter()
        .zip(runs)
        .zip(entries)
        .map(|((pod, (seconds, cents, _)), charge_entry)| EndedRun {
            seconds,
            cents,
            started_by: pod.started_by,
            started_by_name: pod.started_by.and_then(|u| names.get(&u).cloned()),
            charge_entry,
        })
        .collect())
}

/// The Pod as it is once its run has ended and it is stopped.
fn stopped_entry(pod: &Pod, run: &EndedRun, reason: Option<StopReason>) -> Action {
    Action::PodStopped {
        pod: pod.id,
        name: pod.name.clone(),
        gpus: pod.gpus(),
        from: RUNNING,
        to: STOPPED,
        running_seconds: run.seconds,
        charged_cents: run.cents,
        started_by: run.started_by,
        started_by_name: run.started_by_name.clone(),
        reason,
    }
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
        let mut runs = end_runs(conn, cx, &[&pod])?;
        let run = runs.remove(0);
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
        let stopped = stopped_entry(&pod, &run, None);
        let entries = run.charge_entry.into_iter().chain([stopped]);
        cx.record_all(conn, entries.map(|e| (pod.account_id, e)).collect())?;
        Ok(Outcome {
            pod,
            charged_cents: run.cents,
            run_seconds: run.seconds,
        })
    })
}

/// A Pod the console is to stop on its own: while still in the run that
/// began at `run_started_at`, for `reason`.
pub struct SystemStop {
    pub pod_id: PodId,
    pub run_started_at: OffsetDateTime,
    pub reason: StopReason,
}

/// What a system stop did to one Pod.
pub struct SystemStopped {
    pub pod_id: PodId,
    pub account_id: AccountId,
    pub reason: StopReason,
    pub charged_cents: i64,
}

/// The console stops Pods on its own (`cx` is the system's, at the sweep's
/// time), each only if it is still in the run the sweep saw and no one
/// else holds it right now (SKIP LOCKED: a person stopping it wins, and
/// the next sweep looks again). The same charges, usage and entries as a
/// person's stop, written for all of them in a few statements; each entry
/// goes to the Pod's account. Returns the Pods stopped.
pub fn system_stop_all(
    conn: &mut PgConnection,
    cx: &Change,
    stops: &[SystemStop],
) -> QueryResult<Vec<SystemStopped>> {
    if stops.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<PodId> = stops.iter().map(|s| s.pod_id).collect();
    let locked: Vec<Pod> = pods::table
        .filter(pods::id.eq_any(&ids))
        .filter(pods::status.eq(RUNNING))
        .order(pods::id.asc())
        .select(Pod::as_select())
        .for_update()
        .skip_locked()
        .load(conn)?;
    let wanted: Vec<(&Pod, StopReason)> = locked
        .iter()
        .filter_map(|pod| {
            let stop = stops.iter().find(|s| s.pod_id == pod.id)?;
            (pod.started_at == Some(stop.run_started_at)).then_some((pod, stop.reason))
        })
        .collect();
    let pods_to_end: Vec<&Pod> = wanted.iter().map(|(pod, _)| *pod).collect();
    let runs = end_runs(conn, cx, &pods_to_end)?;
    let mut entries = Vec::new();
    let mut stopped = Vec::new();
    for ((pod, reason), run) in wanted.into_iter().zip(runs) {
        diesel::update(pods::table.find(pod.id))
            .set((
                pods::status.eq(STOPPED),
                pods::started_at.eq(None::<OffsetDateTime>),
                pods::started_by.eq(None::<UserId>),
                pods::total_running_seconds.eq(pods::total_running_seconds + run.seconds),
                pods::total_charged_cents.eq(pods::total_charged_cents + run.cents),
            ))
            .execute(conn)?;
        let entry = stopped_entry(pod, &run, Some(reason));
        if let Some(charge) = run.charge_entry {
            entries.push((pod.account_id, charge));
        }
        entries.push((pod.account_id, entry));
        stopped.push(SystemStopped {
            pod_id: pod.id,
            account_id: pod.account_id,
            reason,
            charged_cents: run.cents,
        });
    }
    cx.record_all(conn, entries)?;
    Ok(stopped)
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
        let mut runs = end_runs(conn, cx, &[&pod])?;
        let run = runs.remove(0);
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
        let terminated = Action::PodTerminated {
            pod: pod.id,
            name: pod.name.clone(),
            gpus: pod.gpus(),
            from: pod_before,
            to: TERMINATED,
            running_seconds: run.seconds,
            charged_cents: run.cents,
            started_by: run.started_by,
            started_by_name: run.started_by_name,
        };
        let entries = run.charge_entry.into_iter().chain([terminated]);
        cx.record_all(conn, entries.map(|e| (pod.account_id, e)).collect())?;
        Ok(Outcome {
            pod,
            charged_cents: run.cents,
            run_seconds: run.seconds,
        })
    })
}
