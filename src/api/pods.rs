//! GET /api/v1/accounts/{id}/pods (`pods:read`) and POST
//! …/pods/{pod_id}/start | stop (`pods:write`): the Pods page's list and
//! actions, through the pods core, refused with its `refusal` texts.

use actix_web::{HttpRequest, web};
use serde::Serialize;

use crate::AppState;
use crate::api::{ApiResult, Key, Problem, ok, path_id, scope, time};
use crate::api_keys::{Caller, Scope};
use crate::audit::{Change, Origin};
use crate::authz::Capability;
use crate::ids::PodId;
use crate::pods::transitions::{self, Outcome};
use crate::pods::{self, PodsError};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Pod {
    #[schema(value_type = String)]
    pub id: PodId,
    pub name: String,
    pub gpu_type: String,
    pub gpu_count: i32,
    /// "2 × A100 80GB".
    pub gpus: String,
    pub image: String,
    /// running, stopped or terminated.
    pub status: String,
    /// Price per hour in cents, when the key may read billing.
    pub hourly_price_cents: Option<i64>,
    pub created_at: String,
    /// Who started the current run (their name), while it runs.
    pub started_by: Option<String>,
}

/// Money is shown only to a key with `billing:read` whose creator may see
/// billing (SPEC §2), as on the pages.
fn money_shown(caller: &Caller) -> bool {
    caller.has_scope(Scope::BillingRead) && caller.role_can(Capability::ViewBilling)
}

fn pod_json(pod: pods::Pod, started_by: Option<String>, money: bool) -> Pod {
    Pod {
        gpus: pod.gpus(),
        hourly_price_cents: money.then_some(pod.hourly_price_cents),
        created_at: time(&pod.created_at),
        started_by: started_by.filter(|_| pod.is_running()),
        id: pod.id,
        name: pod.name,
        gpu_type: pod.gpu_type,
        gpu_count: pod.gpu_count,
        image: pod.image,
        status: pod.status,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/accounts/{account_id}/pods",
    tag = "pods",
    security(("api_key" = ["pods:read"])),
    params(("account_id" = String, Path, description = "The account")),
    responses(
        (status = 200, description = "The Pods, newest first, terminated last", body = Vec<Pod>),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn list(state: web::Data<AppState>, key: Key<scope::PodsRead>) -> ApiResult {
    let account_id = key.account_id();
    let money = money_shown(&key.caller);
    let all = state
        .db(move |conn| pods::list_pods(conn, account_id))
        .await?;
    let list: Vec<Pod> = all
        .into_iter()
        .map(|(pod, by)| pod_json(pod, by, money))
        .collect();
    ok(&list)
}

type Transition = fn(&mut diesel::PgConnection, &Change, PodId) -> Result<Outcome, PodsError>;

async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: Key<scope::PodsWrite>,
    origin: Origin,
    transition: Transition,
) -> ApiResult {
    let pod_id: PodId = path_id(&req, "pod_id")?;
    let cx = key.caller.change(origin, state.clock.now());
    let money = money_shown(&key.caller);
    match state
        .core(move |conn| transition(conn, &cx, pod_id))
        .await?
    {
        Ok(outcome) => {
            let by = key.caller.creator.display_name.clone();
            ok(&pod_json(outcome.pod, Some(by), money))
        }
        Err(refused) => Err(Problem::refused(pods::pages::refusal(&refused, money))),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/accounts/{account_id}/pods/{pod_id}/start",
    tag = "pods",
    security(("api_key" = ["pods:write"])),
    params(
        ("account_id" = String, Path, description = "The account"),
        ("pod_id" = String, Path, description = "The Pod"),
    ),
    responses(
        (status = 200, description = "The Pod, running", body = Pod),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Already running, terminated, no funds, a spend limit or quota", body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: Key<scope::PodsWrite>,
    origin: Origin,
) -> ApiResult {
    run(req, state, key, origin, transitions::start).await
}

#[utoipa::path(
    post,
    path = "/api/v1/accounts/{account_id}/pods/{pod_id}/stop",
    tag = "pods",
    security(("api_key" = ["pods:write"])),
    params(
        ("account_id" = String, Path, description = "The account"),
        ("pod_id" = String, Path, description = "The Pod"),
    ),
    responses(
        (status = 200, description = "The Pod, stopped (its run charged)", body = Pod),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Already stopped or terminated", body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn stop(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: Key<scope::PodsWrite>,
    origin: Origin,
) -> ApiResult {
    run(req, state, key, origin, transitions::stop).await
}
