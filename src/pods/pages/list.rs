//! GET /accounts/{id}/pods: the account's Pods (Basic, Dev, Admin), and
//! POST to create one (Dev, Admin). A refused form re-renders the page with
//! what was typed and a message by each field (400).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::{Capability, can};
use crate::format::{date_time, duration, money};
use crate::ids::AccountId;
use crate::pods::catalogue::{self, CATALOGUE, GpuType};
use crate::pods::transitions::{self, NewPod};
use crate::pods::{self, Pod};
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

/// A Pod as the list shows it, with its figures as of now.
pub struct PodRow {
    pub pod: Pod,
    pub gpus: String,
    pub hourly: String,
    pub running_time: String,
    pub cost: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "pods/list.html")]
struct PodsPage {
    layout: Layout,
    account_id: AccountId,
    pods: Vec<PodRow>,
    can_manage: bool,
    form: PodForm,
    catalogue: &'static [GpuType],
}

/// The create form as typed, with a message per refused field.
#[derive(Deserialize)]
pub struct PodForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub gpu_type: String,
    #[serde(default)]
    pub gpu_count: String,
    #[serde(default)]
    pub image: String,
    #[serde(skip)]
    pub errors: FieldErrors,
}

impl Default for PodForm {
    fn default() -> Self {
        PodForm {
            name: String::new(),
            gpu_type: String::new(),
            gpu_count: "1".into(),
            image: String::new(),
            errors: FieldErrors::default(),
        }
    }
}

#[derive(Default)]
pub struct FieldErrors {
    pub name: Option<String>,
    pub gpu_type: Option<String>,
    pub gpu_count: Option<String>,
    pub image: Option<String>,
}

impl PodForm {
    /// The Pod to create, or the form with its messages.
    fn validate(mut self) -> Result<NewPod, Box<PodForm>> {
        let name = match crate::accounts::clean_name(&self.name, "Pod name") {
            Ok(name) => Some(name),
            Err(e) => {
                self.errors.name = Some(e);
                None
            }
        };
        let gpu = catalogue::find(&self.gpu_type);
        if gpu.is_none() {
            self.errors.gpu_type = Some("Choose a GPU type from the list.".into());
        }
        let count = self
            .gpu_count
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=8).contains(n));
        if count.is_none() {
            self.errors.gpu_count = Some("The GPU count is a whole number from 1 to 8.".into());
        }
        let image = self.image.trim().to_string();
        if image.is_empty() {
            self.errors.image =
                Some("Enter a container image, such as pytorch/pytorch:latest.".into());
        } else if image.chars().count() > 200 {
            self.errors.image = Some("The container image can be at most 200 characters.".into());
        } else if image
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || crate::accounts::is_hidden_format(c))
        {
            self.errors.image = Some("The container image cannot contain spaces.".into());
        }
        match (name, gpu, count) {
            (Some(name), Some(gpu), Some(gpu_count)) if self.errors.image.is_none() => Ok(NewPod {
                name,
                gpu,
                gpu_count,
                image,
            }),
            _ => Err(Box::new(self)),
        }
    }
}

pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::UsePods>,
) -> AppResult<HttpResponse> {
    render(&state, &member, StatusCode::OK, PodForm::default(), None).await
}

pub async fn create(
    state: web::Data<AppState>,
    member: Member<can::ManagePods>,
    origin: Origin,
    form: web::Form<PodForm>,
) -> AppResult<HttpResponse> {
    let new = match form.into_inner().validate() {
        Ok(new) => new,
        Err(form) => return render(&state, &member, StatusCode::BAD_REQUEST, *form, None).await,
    };
    let account_id = member.account_id();
    let cx = member.change(origin, state.clock.now());
    let pod = state
        .db(move |conn| transitions::create(conn, &cx, new))
        .await?;
    session::success(
        member.session(),
        format!(
            "Pod {} was created ({}, {}/h). It is stopped: start it when you need it.",
            pod.name,
            pod.gpus(),
            money(pod.hourly_price_cents)
        ),
    );
    Ok(w::see_other(&format!("/accounts/{account_id}/pods")))
}

/// The Pods page, with `error` at the top (an impossible transition).
pub async fn render<C>(
    state: &AppState,
    member: &Member<C>,
    status: StatusCode,
    form: PodForm,
    error: Option<String>,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let now = state.clock.now();
    let list = state
        .db(move |conn| pods::list_pods(conn, account_id))
        .await?;
    let rows = list
        .into_iter()
        .map(|pod| PodRow {
            gpus: pod.gpus(),
            hourly: money(pod.hourly_price_cents),
            running_time: duration(pod.running_seconds(now)),
            cost: money(pod.cost_so_far_cents(now)),
            created: date_time(&pod.created_at),
            pod,
        })
        .collect();
    let layout = member.layout()?.section("pods").with_error(error);
    w::render(
        status,
        &PodsPage {
            layout,
            account_id,
            pods: rows,
            can_manage: member.can(Capability::ManagePods),
            form,
            catalogue: CATALOGUE,
        },
    )
}
