//! POST start / stop / terminate (Dev, Admin), and the page confirming a
//! termination. An impossible transition (starting a running Pod, anything
//! on a terminated one, starting at a zero balance) redirects (303) to the
//! Pods page with the reason as an error flash; success flashes and
//! redirects there too.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::audit::{Change, Origin};
use crate::authz::{Capability, can};
use crate::format::{duration, money};
use crate::ids::{AccountId, PodId};
use crate::pods::pages::list::{self, PodForm};
use crate::pods::pages::{PodPath, refusal};
use crate::pods::transitions::{self, Outcome};
use crate::pods::{self, Pod, PodsError};
use crate::web::auth::{Member, Visit};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

type Transition = fn(&mut diesel::PgConnection, &Change, PodId) -> Result<Outcome, PodsError>;

/// Runs `transition` on the Pod in the URL; `done` words the success.
async fn run(
    state: web::Data<AppState>,
    member: Member<can::ManagePods>,
    path: web::Path<PodPath>,
    origin: Origin,
    transition: Transition,
    done: fn(&Outcome, bool) -> String,
) -> AppResult<HttpResponse> {
    let pod_id = path.pod_id;
    let cx = member.change(origin, state.clock.now());
    let result = state
        .core(move |conn| transition(conn, &cx, pod_id))
        .await?;
    match result {
        Ok(outcome) => {
            let money_shown = member.can(Capability::ViewBilling);
            session::success(member.session(), done(&outcome, money_shown));
            let account_id = member.account_id();
            Ok(w::see_other(&format!("/accounts/{account_id}/pods")))
        }
        Err(refused) => {
            let (_, message) = refusal(&refused, member.can(Capability::ViewBilling));
            session::flash(member.session(), session::FlashLevel::Error, message);
            let account_id = member.account_id();
            Ok(w::see_other(&format!("/accounts/{account_id}/pods")))
        }
    }
}

/// " It ran 1 h 30 min and $4.49 was charged." (without the amount for
/// those who may not see billing).
fn charged(o: &Outcome, money_shown: bool) -> String {
    if o.run_seconds == 0 {
        return String::new();
    }
    if !money_shown {
        return format!(" It ran {}.", duration(o.run_seconds));
    }
    format!(
        " It ran {} and {} was charged.",
        duration(o.run_seconds),
        money(o.charged_cents)
    )
}

pub async fn start(
    state: web::Data<AppState>,
    member: Member<can::ManagePods>,
    path: web::Path<PodPath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    run(
        state,
        member,
        path,
        origin,
        transitions::start,
        |o, money_shown| {
            if money_shown {
                format!(
                    "{} is running, at {}/h.",
                    o.pod.name,
                    money(o.pod.hourly_price_cents)
                )
            } else {
                format!("{} is running.", o.pod.name)
            }
        },
    )
    .await
}

pub async fn stop(
    state: web::Data<AppState>,
    member: Member<can::ManagePods>,
    path: web::Path<PodPath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    run(
        state,
        member,
        path,
        origin,
        transitions::stop,
        |o, money_shown| format!("{} is stopped.{}", o.pod.name, charged(o, money_shown)),
    )
    .await
}

#[derive(Template)]
#[template(path = "pods/terminate.html")]
struct ConfirmTerminatePage {
    layout: Layout,
    account_id: AccountId,
    pod: Pod,
    gpus: String,
    /// What terminating now would charge (a running Pod's current run), for
    /// those who may see billing.
    accrued: Option<String>,
    running: bool,
}

pub async fn confirm_terminate(
    state: web::Data<AppState>,
    visit: Visit<can::ManagePods>,
    path: web::Path<PodPath>,
) -> AppResult<HttpResponse> {
    let pod_id = path.pod_id;
    let (member, pod) = visit
        .db(move |conn, access| pods::find_pod(conn, access.account_id(), pod_id))
        .await?;
    let account_id = member.account_id();
    if pod.is_terminated() {
        let message = format!("{} is already terminated.", pod.name);
        return list::render(
            &state,
            &member,
            StatusCode::CONFLICT,
            PodForm::default(),
            Some(message),
        )
        .await;
    }
    let now = state.clock.now();
    w::page(&ConfirmTerminatePage {
        layout: member.layout()?.section("pods"),
        account_id,
        gpus: pod.gpus(),
        accrued: (pod.is_running() && member.can(Capability::ViewBilling))
            .then(|| money(pod.accrued_cents(now))),
        running: pod.is_running(),
        pod,
    })
}

pub async fn terminate(
    state: web::Data<AppState>,
    member: Member<can::ManagePods>,
    path: web::Path<PodPath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    run(
        state,
        member,
        path,
        origin,
        transitions::terminate,
        |o, money_shown| format!("{} is terminated.{}", o.pod.name, charged(o, money_shown)),
    )
    .await
}
