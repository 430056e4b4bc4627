//! Invite New Member (Admin, team accounts only): pick a role, optionally
//! the email it is meant for, and a lifetime.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::valid_email;
use crate::audit::Origin;
use crate::authz::{Role, can};
use crate::ids::AccountId;
use crate::invites::{
    self, DEFAULT_LIFETIME_HOURS, MAX_LIFETIME_HOURS, MIN_LIFETIME_HOURS, NewInvite,
};
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

/// Lifetimes offered in the form (hours, label).
const LIFETIMES: [(i64, &str); 6] = [
    (1, "1 hour"),
    (24, "1 day"),
    (72, "3 days"),
    (168, "7 days"),
    (336, "14 days"),
    (720, "30 days"),
];

#[derive(Default)]
pub struct InviteErrors {
    role: Option<String>,
    email: Option<String>,
    lifetime: Option<String>,
    form: Option<String>,
}

#[derive(Template)]
#[template(path = "invites/new.html")]
struct NewInvitePage {
    layout: Layout,
    account_id: AccountId,
    roles: [Role; 4],
    lifetimes: [(i64, &'static str); 6],
    role: String,
    email: String,
    lifetime_hours: i64,
    errors: InviteErrors,
}

fn page(
    member: &Member<can::ManageInvites>,
    form: &InviteForm,
    errors: InviteErrors,
) -> AppResult<NewInvitePage> {
    Ok(NewInvitePage {
        layout: member.layout()?.section("members"),
        account_id: member.account_id(),
        roles: Role::ALL,
        lifetimes: LIFETIMES,
        role: form.role.clone(),
        email: form.email.clone(),
        lifetime_hours: form
            .lifetime_hours
            .trim()
            .parse()
            .unwrap_or(DEFAULT_LIFETIME_HOURS),
        errors,
    })
}

pub async fn form(member: Member<can::ManageInvites>) -> AppResult<HttpResponse> {
    let defaults = InviteForm {
        role: Role::Basic.as_str().into(),
        email: String::new(),
        lifetime_hours: DEFAULT_LIFETIME_HOURS.to_string(),
    };
    w::page(&page(&member, &defaults, InviteErrors::default())?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    role: String,
    email: String,
    lifetime_hours: String,
}

pub async fn create(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    origin: Origin,
    form: web::Form<InviteForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let mut errors = InviteErrors::default();
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.role = Some("Choose a role: Basic, Billing, Dev or Admin.".into());
    }
    let email = form.email.trim().to_string();
    if !email.is_empty() && !valid_email(&email) {
        errors.email =
            Some("Enter a valid email address, or leave it empty for anyone with the link.".into());
    }
    let lifetime = form.lifetime_hours.trim().parse::<i64>().ok();
    let lifetime = lifetime.filter(|h| (MIN_LIFETIME_HOURS..=MAX_LIFETIME_HOURS).contains(h));
    if lifetime.is_none() {
        errors.lifetime = Some("Choose a lifetime between 1 hour and 30 days.".into());
    }
    let (Some(role), Some(lifetime_hours)) = (role, lifetime) else {
        return w::render(StatusCode::BAD_REQUEST, &page(&member, &form, errors)?);
    };
    if errors.email.is_some() {
        return w::render(StatusCode::BAD_REQUEST, &page(&member, &form, errors)?);
    }
    let new = NewInvite {
        role,
        email: (!email.is_empty()).then(|| email.clone()),
        lifetime_hours,
    };
    let account_id = member.account_id();
    let cx = member.change(origin, state.clock.now());
    let (links, outbox) = (state.invite_links.clone(), state.outbox.clone());
    let created = state
        .core(move |conn| invites::create(conn, &cx, &new, &links, &outbox))
        .await?;
    match created {
        Ok(_) => {
            let whom = match email.as_str() {
                "" => "the person joining".to_string(),
                email => email.to_string(),
            };
            session::success(
                member.session(),
                format!(
                    "Invite created with the {role} role. Copy its link below and send it to {whom}."
                ),
            );
            Ok(w::see_other(&format!(
                "/accounts/{account_id}/members#invites"
            )))
        }
        Err(refused) => {
            let (status, message) = invites::pages::refusal(&refused);
            let errors = InviteErrors {
                form: Some(message),
                ..InviteErrors::default()
            };
            w::render(status, &page(&member, &form, errors)?)
        }
    }
}
