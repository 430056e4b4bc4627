//! POST /api/v1/accounts/{id}/invites and DELETE …/invites/{invite_id}
//! (`invites:write`): Invite New Member and Revoke, through the invites
//! core, refused with its `refusal` texts.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::accounts::valid_email;
use crate::api::{ApiResult, Key, Problem, json_body, path_id, scope, time};
use crate::audit::Origin;
use crate::authz::Role;
use crate::ids::InviteId;
use crate::invites::{
    self, DEFAULT_LIFETIME_HOURS, MAX_LIFETIME_HOURS, MIN_LIFETIME_HOURS, NewInvite,
};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InviteRequest {
    /// basic, billing, dev or admin.
    pub role: String,
    /// The email the invite is meant for (it is mailed there), if any.
    #[serde(default)]
    pub email: Option<String>,
    /// Hours the link stays valid, 1 to 720 (168).
    #[serde(default)]
    pub lifetime_hours: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedInvite {
    #[schema(value_type = String)]
    pub id: InviteId,
    #[schema(value_type = String)]
    pub role: Role,
    pub email: Option<String>,
    pub expires_at: String,
    /// The invite link to send to the person (single use).
    pub link: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/accounts/{account_id}/invites",
    tag = "invites",
    security(("api_key" = ["invites:write"])),
    params(("account_id" = String, Path, description = "The account")),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "The invite and its link", body = CreatedInvite),
        (status = 400, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 422, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    key: Key<scope::InvitesWrite>,
    origin: Origin,
    body: web::Bytes,
) -> ApiResult {
    let sent: InviteRequest = json_body(&body)?;
    let role = Role::parse(sent.role.trim()).ok_or_else(|| {
        Problem::unprocessable("role: Choose a role: Basic, Billing, Dev or Admin.")
    })?;
    let email = sent
        .email
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    if email.as_deref().is_some_and(|e| !valid_email(e)) {
        return Err(Problem::unprocessable(
            "email: Enter a valid email address, or leave it out for anyone with the link.",
        ));
    }
    let lifetime_hours = sent.lifetime_hours.unwrap_or(DEFAULT_LIFETIME_HOURS);
    if !(MIN_LIFETIME_HOURS..=MAX_LIFETIME_HOURS).contains(&lifetime_hours) {
        return Err(Problem::unprocessable(
            "lifetime_hours: Choose a lifetime between 1 hour and 30 days.",
        ));
    }
    let new = NewInvite {
        role,
        email,
        lifetime_hours,
    };
    let cx = key.caller.change(origin, state.clock.now());
    let (links, outbox) = (state.invite_links.clone(), state.outbox.clone());
    let account_id = key.account_id();
    let created = state
        .core(move |conn| {
            let id = invites::create(conn, &cx, &new, &links, &outbox)?;
            Ok::<_, invites::InvitesError>(invites::find(conn, account_id, id)?)
        })
        .await?;
    match created {
        Ok(invite) => Ok(HttpResponse::Created().json(CreatedInvite {
            link: state.invite_links.link(invite.id, &invite.nonce),
            id: invite.id,
            role: invite.role,
            email: invite.email,
            expires_at: time(&invite.expires_at),
        })),
        Err(refused) => Err(Problem::refused(invites::pages::refusal(&refused))),
    }
}

#[utoipa::path(
    delete,
    path = "/api/v1/accounts/{account_id}/invites/{invite_id}",
    tag = "invites",
    security(("api_key" = ["invites:write"])),
    params(
        ("account_id" = String, Path, description = "The account"),
        ("invite_id" = String, Path, description = "The invite"),
    ),
    responses(
        (status = 204, description = "Revoked: the link no longer works"),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "No longer pending", body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: Key<scope::InvitesWrite>,
    origin: Origin,
) -> ApiResult {
    let invite_id: InviteId = path_id(&req, "invite_id")?;
    let cx = key.caller.change(origin, state.clock.now());
    match state
        .core(move |conn| invites::revoke(conn, &cx, invite_id))
        .await?
    {
        Ok(()) => Ok(HttpResponse::new(StatusCode::NO_CONTENT)),
        Err(refused) => Err(Problem::refused(invites::pages::refusal(&refused))),
    }
}
