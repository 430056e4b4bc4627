//! GET /accounts/{id}/billing/spend: Spend controls, reached from Billing
//! (Billing, Admin): this month's usage per member against their limit,
//! the team's monthly budget, the default monthly limit of each role, each
//! member's own limit, and the GPU quotas per role and per member (shown
//! to Billing, changed by Admins only). The forms post to the handlers in
//! `forms.rs`; a refused form comes back here with what was typed (400).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::authz::{Capability, Role, can};
use crate::format::{gpu_hours, money, percent};
use crate::ids::{AccountId, UserId};
use crate::members::{self, MemberRow};
use crate::pods::catalogue::CATALOGUE;
use crate::spend::alerts;
use crate::spend::limits::LimitSource;
use crate::spend::{self, Overview};
use crate::web::auth::{Member, Visit};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w};

/// One input of a form, with what it shows.
pub struct Input {
    pub name: String,
    pub value: String,
    pub invalid: bool,
    /// The message shown by the field (forms of one field per line).
    pub error: Option<String>,
    /// Shown when empty (a member's row: their role's figure).
    pub placeholder: String,
}

pub struct BudgetView {
    pub input: Input,
    pub set: bool,
    pub figure: String,
    pub used: String,
    pub share: Option<i64>,
}

pub struct RoleLimitRow {
    pub label: &'static str,
    pub input: Input,
}

pub struct MemberView {
    pub user_id: UserId,
    pub name: String,
    pub role: &'static str,
    pub gpu_hours: String,
    pub spent: String,
    /// "$500.00 (Dev role)", "$800.00 (own)", "No limit".
    pub limit: String,
    pub share: Option<i64>,
    pub running_gpus: i64,
    pub form_id: String,
    pub input: Input,
}

pub struct GpuColumn {
    pub id: &'static str,
    pub label: &'static str,
}

/// A row of a quotas table: one role or one member, a cell per GPU type.
pub struct QuotaRow {
    pub label: String,
    pub form_id: String,
    /// The hidden field naming the row: ("role", "dev") or ("member", id).
    pub key: (&'static str, String),
    pub cells: Vec<Input>,
}

pub struct QuotaTable {
    pub title: &'static str,
    pub key_header: &'static str,
    pub rows: Vec<QuotaRow>,
}

#[derive(Template)]
#[template(path = "spend/controls.html")]
struct ControlsPage {
    layout: Layout,
    account_id: AccountId,
    month: String,
    resets: String,
    budget: BudgetView,
    role_limits: Vec<RoleLimitRow>,
    members: Vec<MemberView>,
    gpus: Vec<GpuColumn>,
    quota_tables: Vec<QuotaTable>,
    can_quotas: bool,
}

/// A refused form as typed: which form, its values, the fields at fault.
#[derive(Default)]
pub struct Retyped {
    pub form: String,
    pub values: HashMap<String, String>,
    pub invalid: Vec<String>,
    /// Shown by the fields at fault in the budget and roles forms, above
    /// the page for the forms in tables.
    pub message: String,
}

/// The forms whose fields show their own message.
const FIELD_FORMS: [&str; 2] = ["budget", "roles"];

impl Retyped {
    /// The input `name` of form `form`: as typed if that form was refused,
    /// else `current`.
    fn input(&self, form: &str, name: &str, current: String, placeholder: String) -> Input {
        let retyped = self.form == form;
        let invalid = retyped && self.invalid.iter().any(|n| n == name);
        Input {
            name: name.to_string(),
            value: match retyped {
                true => self.values.get(name).cloned().unwrap_or_default(),
                false => current,
            },
            invalid,
            error: (invalid && FIELD_FORMS.contains(&form)).then(|| self.message.clone()),
            placeholder,
        }
    }
}

/// "500.00": cents as a form shows them (no `$`, no grouping).
pub fn dollars(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

pub async fn show(
    state: web::Data<AppState>,
    visit: Visit<can::ManageSpend>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let (member, loaded) = visit
        .db(move |conn, access| load(conn, access.account_id(), now))
        .await?;
    page(&member, loaded, StatusCode::OK, Retyped::default())
}

/// The month's overview and the members the forms name.
fn load(
    conn: &mut diesel::PgConnection,
    account_id: crate::ids::AccountId,
    now: time::OffsetDateTime,
) -> diesel::QueryResult<(Overview, Vec<MemberRow>)> {
    Ok((
        spend::overview(conn, account_id, now)?,
        members::list(conn, account_id)?,
    ))
}

/// The page, with a refused form as typed and its message.
pub async fn render<C>(
    state: &AppState,
    member: &Member<C>,
    status: StatusCode,
    retyped: Retyped,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let now = state.clock.now();
    let loaded = state.db(move |conn| load(conn, account_id, now)).await?;
    page(member, loaded, status, retyped)
}

fn page<C>(
    member: &Member<C>,
    (overview, people): (Overview, Vec<MemberRow>),
    status: StatusCode,
    retyped: Retyped,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let error = (!retyped.message.is_empty() && !FIELD_FORMS.contains(&retyped.form.as_str()))
        .then(|| retyped.message.clone());
    let Overview {
        month,
        usage,
        limits,
        quotas,
        alerts,
        ..
    } = &overview;

    let team = usage.team();
    let budget = BudgetView {
        input: retyped.input(
            "budget",
            "budget",
            limits.budget_cents.map(dollars).unwrap_or_default(),
            String::new(),
        ),
        set: limits.budget_cents.is_some(),
        figure: limits.budget_cents.map(money).unwrap_or_default(),
        used: money(team.cents),
        share: limits.budget_cents.map(|b| percent(team.cents, b)),
    };
    let role_limits = Role::ALL
        .into_iter()
        .map(|role| RoleLimitRow {
            label: role.label(),
            input: retyped.input(
                "roles",
                &format!("limit_{}", role.as_str()),
                limits
                    .roles
                    .get(&role)
                    .copied()
                    .map(dollars)
                    .unwrap_or_default(),
                String::new(),
            ),
        })
        .collect();
    let members = people
        .iter()
        .map(|m| member_view(m, &overview, &retyped))
        .collect();
    let gpus = CATALOGUE
        .iter()
        .map(|g| GpuColumn {
            id: g.id,
            label: g.label,
        })
        .collect();
    let role_quotas = Role::ALL
        .into_iter()
        .map(|role| {
            let form_id = format!("quota-{}", role.as_str());
            QuotaRow {
                label: role.label().to_string(),
                cells: CATALOGUE
                    .iter()
                    .map(|g| {
                        let current = quotas.roles.get(&(role, g.id.to_string()));
                        retyped.input(
                            &form_id,
                            g.id,
                            current.map(ToString::to_string).unwrap_or_default(),
                            String::new(),
                        )
                    })
                    .collect(),
                key: ("role", role.as_str().to_string()),
                form_id,
            }
        })
        .collect();
    let member_quotas = people
        .iter()
        .map(|m| {
            let form_id = format!("gpus-{}", m.user_id);
            QuotaRow {
                label: format!("{} ({})", m.display_name, m.role.label()),
                cells: CATALOGUE
                    .iter()
                    .map(|g| {
                        let own = quotas.members.get(&(m.user_id, g.id.to_string()));
                        let of_role = quotas.roles.get(&(m.role, g.id.to_string()));
                        retyped.input(
                            &form_id,
                            g.id,
                            own.map(ToString::to_string).unwrap_or_default(),
                            of_role.map(ToString::to_string).unwrap_or_default(),
                        )
                    })
                    .collect(),
                key: ("member", m.user_id.to_string()),
                form_id,
            }
        })
        .collect();

    let notices = alerts::banners(alerts, member.user().id, true, true, *month)
        .into_iter()
        .map(|b| (b.text, b.reached));
    let layout = member
        .layout()?
        .section("billing")
        .with_notices(notices)
        .with_error(error);
    w::render(
        status,
        &ControlsPage {
            layout,
            account_id,
            month: month.label(),
            resets: month.next_start_label(),
            budget,
            role_limits,
            members,
            gpus,
            quota_tables: vec![
                QuotaTable {
                    title: "By role",
                    key_header: "Role",
                    rows: role_quotas,
                },
                QuotaTable {
                    title: "By member",
                    key_header: "Member",
                    rows: member_quotas,
                },
            ],
            can_quotas: member.can(Capability::ManageQuotas),
        },
    )
}

fn member_view(m: &MemberRow, overview: &Overview, retyped: &Retyped) -> MemberView {
    let used = overview.usage.member(m.user_id);
    let applied = overview.limits.member_limit(m.user_id, Some(m.role));
    let own = overview.limits.members.get(&m.user_id).copied();
    let of_role = overview.limits.roles.get(&m.role).copied();
    let limit = match applied {
        Some((cents, LimitSource::Member)) => format!("{} (own)", money(cents)),
        Some((cents, LimitSource::Role(role))) => format!("{} ({role} role)", money(cents)),
        None => "No limit".to_string(),
    };
    let running_gpus = overview
        .usage
        .running
        .iter()
        .filter(|p| p.started_by == Some(m.user_id))
        .map(|p| i64::from(p.gpu_count))
        .sum();
    let form_id = format!("limit-{}", m.user_id);
    MemberView {
        user_id: m.user_id,
        name: m.display_name.clone(),
        role: m.role.label(),
        gpu_hours: gpu_hours(used.gpu_seconds),
        spent: money(used.cents),
        limit,
        share: applied.map(|(cents, _)| percent(used.cents, cents)),
        running_gpus,
        input: retyped.input(
            &form_id,
            "limit",
            own.map(dollars).unwrap_or_default(),
            of_role.map(dollars).unwrap_or_default(),
        ),
        form_id,
    }
}
