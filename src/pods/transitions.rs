//! What happens to a Pod: created, started, stopped, terminated. Each
//! function is one database transaction that locks the Pod row (SELECT ...
//! FOR UPDATE), checks the transition is possible, changes the state,
//! charges the usage of the run that ends, and writes the audit entries:
//! two concurrent stops of one Pod are serialised and charge once.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::billing::{self, usage_cents};
use crate::db::schema::pods;
use crate::pods::catalogue::GpuType;
use crate::pods::{Pod, RUNNING, STOPPED, TERMINATED, billable_seconds, duration_label};
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
use crate::web::format::money;

/// A validated Pod to create.
pub struct NewPod {
    pub name: String,
    pub gpu: &'static GpuType,
    pub gpu_count: i32,
    pub image: String,
}

/// Who acts and from where, passed to every transition.
pub struct Context<'a> {
    pub account_id: Uuid,
    pub actor: &'a Actor,
    pub client: &'a ClientInfo,
    pub now: OffsetDateTime,
}

/// A transition's result: the Pod after it, and the usage it charged.
pub struct Outcome {
    pub pod: Pod,
    pub charged_cents: i64,
    pub run_seconds: i64,
}

fn record(
    cx: &Context<'_>,
    conn: &mut PgConnection,
    action: &str,
    pod: &Pod,
    details: serde_json::Value,
) -> QueryResult<()> {
    audit::record(
        conn,
        audit::Entry {
            account_id: Some(cx.account_id),
            actor: Some(cx.actor),
            action,
            resource_type: "pod",
            resource_id: Some(pod.id.to_string()),
            client: cx.client,
            details,
        },
    )
}

/// New Pods are created stopped: starting one is a separate, billed step.
pub fn create(conn: &mut PgConnection, cx: &Context<'_>, new: NewPod) -> AppResult<Pod> {
    let hourly = new.gpu.hourly_price_cents * i64::from(new.gpu_count);
    conn.transaction(|conn| {
        let pod: Pod = diesel::insert_into(pods::table)
            .values((
                pods::id.eq(Uuid::new_v4()),
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
        let details = json!({
            "name": pod.name,
            "gpu_type": pod.gpu_type,
            "gpu_count": pod.gpu_count,
            "image": pod.image,
            "hourly_price_cents": hourly,
            "status": STOPPED,
        });
        record(cx, conn, "pod.created", &pod, details)?;
        Ok(pod)
    })
}

/// The Pod, locked until the transaction ends; another account's → 404.
fn lock(conn: &mut PgConnection, account_id: Uuid, pod_id: Uuid) -> AppResult<Pod> {
    pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::id.eq(pod_id))
        .select(Pod::as_select())
        .for_update()
        .first(conn)
        .map_err(AppError::from)
}

fn terminated(pod: &Pod) -> AppError {
    AppError::Conflict(format!(
        "{} is terminated: it cannot be started, stopped or terminated again.",
        pod.name
    ))
}

pub fn start(conn: &mut PgConnection, cx: &Context<'_>, pod_id: Uuid) -> AppResult<Outcome> {
    conn.transaction(|conn| {
        let pod = lock(conn, cx.account_id, pod_id)?;
        match pod.status.as_str() {
            TERMINATED => return Err(terminated(&pod)),
            RUNNING => {
                return Err(AppError::Conflict(format!("{} is already running.", pod.name)));
            }
            _ => {}
        }
        let balance = billing::balance(conn, cx.account_id)?;
        if balance <= 0 {
            return Err(AppError::Conflict(format!(
                "{} cannot start: the account's balance is {}. A Billing member or an Admin must add funds first.",
                pod.name,
                money(balance)
            )));
        }
        let pod: Pod = diesel::update(pods::table.find(pod.id))
            .set((pods::status.eq(RUNNING), pods::started_at.eq(cx.now)))
            .returning(Pod::as_returning())
            .get_result(conn)?;
        let details = json!({ "from": STOPPED, "to": RUNNING, "balance_cents": balance });
        record(cx, conn, "pod.started", &pod, details)?;
        Ok(Outcome {
            pod,
            charged_cents: 0,
            run_seconds: 0,
        })
    })
}

/// Ends the Pod's current run (if running): charges it and moves it into
/// the Pod's totals. Returns (seconds, cents).
fn end_run(conn: &mut PgConnection, cx: &Context<'_>, pod: &Pod) -> AppResult<(i64, i64)> {
    let Some(started_at) = pod.started_at else {
        return Ok((0, 0));
    };
    let seconds = billable_seconds(started_at, cx.now);
    let cents = usage_cents(seconds, pod.hourly_price_cents);
    let description = format!(
        "Pod {}: {} on {} at {}/h",
        pod.name,
        duration_label(seconds),
        pod.gpus(),
        money(pod.hourly_price_cents)
    );
    let usage = billing::Usage {
        account_id: cx.account_id,
        pod_id: pod.id,
        description: &description,
        seconds,
        amount_cents: cents,
    };
    billing::charge_usage(conn, &usage, cx.actor, cx.client, cx.now)?;
    Ok((seconds, cents))
}

pub fn stop(conn: &mut PgConnection, cx: &Context<'_>, pod_id: Uuid) -> AppResult<Outcome> {
    conn.transaction(|conn| {
        let pod = lock(conn, cx.account_id, pod_id)?;
        match pod.status.as_str() {
            TERMINATED => return Err(terminated(&pod)),
            STOPPED => {
                return Err(AppError::Conflict(format!(
                    "{} is already stopped.",
                    pod.name
                )));
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
        let details = json!({
            "from": RUNNING,
            "to": STOPPED,
            "running_seconds": seconds,
            "charged_cents": cents,
        });
        record(cx, conn, "pod.stopped", &pod, details)?;
        Ok(Outcome {
            pod,
            charged_cents: cents,
            run_seconds: seconds,
        })
    })
}

/// Terminates a running or stopped Pod, charging a running one's usage.
pub fn terminate(conn: &mut PgConnection, cx: &Context<'_>, pod_id: Uuid) -> AppResult<Outcome> {
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
        let details = json!({
            "from": pod_before,
            "to": TERMINATED,
            "running_seconds": seconds,
            "charged_cents": cents,
        });
        record(cx, conn, "pod.terminated", &pod, details)?;
        Ok(Outcome {
            pod,
            charged_cents: cents,
            run_seconds: seconds,
        })
    })
}
