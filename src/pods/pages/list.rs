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
use crate::pods::catalogue::{self, CATALOGUE};
use crate::pods::pages::create_refusal;
use crate::pods::transitions::{self, NewPod};
use crate::pods::{self, Pod};
use crate::spend::Month;
use crate::spend::alerts;
use crate::web::auth::{Member, Visit};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

/// A Pod as the list shows it, with its figures as of now.
pub struct PodRow {
    pub pod: Pod,
    pub gpus: String,
    /// Money only for those who may see billing (SPEC §2).
    pub hourly: Option<String>,
    pub running_time: String,
    pub cost: Option<String>,
    pub created: String,
    /// Who started its current run.
    pub started_by: Option<String>,
}

/// A GPU type as the create form offers it.
pub struct GpuChoice {
    pub id: &'static str,
    pub text: String,
}

#[derive(Template)]
#[template(path = "pods/list.html")]
struct PodsPage {
    layout: Layout,
    account_id: AccountId,
    pods: Vec<PodRow>,
    /// Terminated Pods, listed apart (collapsed) under the others.
    terminated: Vec<PodRow>,
    can_manage: bool,
    money_shown: bool,
    form: PodForm,
    catalogue: Vec<GpuChoice>,
    /// The create form was refused: it is shown open, its errors first.
    create_failed: bool,
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

impl FieldErrors {
    pub fn any(&self) -> bool {
        self.name.is_some()
            || self.gpu_type.is_some()
            || self.gpu_count.is_some()
            || self.image.is_some()
    }
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
    visit: Visit<can::UsePods>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let (member, loaded) = visit
        .db(move |conn, access| load(conn, access.account_id(), now))
        .await?;
    page(
        &member,
        loaded,
        now,
        StatusCode::OK,
        PodForm::default(),
        None,
    )
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
    let money_shown = member.can(Capability::ViewBilling);
    let cx = member.change(origin, state.clock.now());
    let kept = PodForm {
        name: new.name.clone(),
        gpu_type: new.gpu.id.to_string(),
        gpu_count: new.gpu_count.to_string(),
        image: new.image.clone(),
        errors: FieldErrors::default(),
    };
    let pod = match state
        .core(move |conn| transitions::create(conn, &cx, new))
        .await?
    {
        Ok(pod) => pod,
        Err(refused) => {
            let (status, message) = create_refusal(&refused, money_shown);
            return render(&state, &member, status, kept, Some(message)).await;
        }
    };
    let price = if money_shown {
        format!(", {}/h", money(pod.hourly_price_cents))
    } else {
        String::new()
    };
    session::success(
        member.session(),
        format!(
            "Pod {} was created ({}{price}). It is stopped: start it when you need it.",
            pod.name,
            pod.gpus(),
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
    let loaded = state.db(move |conn| load(conn, account_id, now)).await?;
    page(member, loaded, now, status, form, error)
}

type Loaded = (Vec<(Pod, Option<String>)>, Vec<alerts::Alert>);

/// The account's Pods (with who started each) and this month's alerts.
fn load(
    conn: &mut diesel::PgConnection,
    account_id: AccountId,
    now: time::OffsetDateTime,
) -> diesel::QueryResult<Loaded> {
    let month = Month::of(now);
    Ok((
        pods::list_pods(conn, account_id)?,
        alerts::this_month(conn, account_id, month)?,
    ))
}

fn page<C>(
    member: &Member<C>,
    (list, alerts): Loaded,
    now: time::OffsetDateTime,
    status: StatusCode,
    form: PodForm,
    error: Option<String>,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let month = Month::of(now);
    let money_shown = member.can(Capability::ViewBilling);
    let (terminated, rows): (Vec<PodRow>, Vec<PodRow>) = list
        .into_iter()
        .map(|(pod, started_by)| PodRow {
            gpus: pod.gpus(),
            hourly: money_shown.then(|| money(pod.hourly_price_cents)),
            running_time: duration(pod.running_seconds(now)),
            cost: money_shown.then(|| money(pod.cost_so_far_cents(now))),
            created: date_time(&pod.created_at),
            started_by: started_by.filter(|_| pod.is_running()),
            pod,
        })
        .partition(|row| row.pod.is_terminated());
    // The member's own alerts and the team's: why starting may be refused.
    let notices = alerts::banners(&alerts, member.user().id, false, money_shown, month)
        .into_iter()
        .map(|b| (b.text, b.reached));
    let layout = member
        .layout()?
        .section("pods")
        .with_notices(notices)
        .with_error(error);
    let catalogue = CATALOGUE
        .iter()
        .map(|gpu| GpuChoice {
            id: gpu.id,
            text: if money_shown {
                format!(
                    "{} ({} GB) · {}/h per GPU",
                    gpu.label,
                    gpu.memory_gb,
                    money(gpu.hourly_price_cents)
                )
            } else {
                format!("{} ({} GB)", gpu.label, gpu.memory_gb)
            },
        })
        .collect();
    w::render(
        status,
        &PodsPage {
            layout,
            account_id,
            pods: rows,
            terminated,
            can_manage: member.can(Capability::ManagePods),
            money_shown,
            create_failed: form.errors.any() || status.is_client_error(),
            form,
            catalogue,
        },
    )
}
