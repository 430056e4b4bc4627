//! GET /api/v1/accounts/{id}/members (`members:read`): the Team page's
//! list (the members core's), emails only when the key's creator may see
//! them (SPEC §2: Admin).

use actix_web::web;
use serde::Serialize;

use crate::AppState;
use crate::api::{ApiResult, Key, ok, scope, time};
use crate::authz::Capability;
use crate::members;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Member {
    #[schema(value_type = String)]
    pub user_id: crate::ids::UserId,
    pub name: String,
    /// Present when the key's creator may see members' emails (Admin).
    pub email: Option<String>,
    /// basic, billing, dev or admin.
    #[schema(value_type = String)]
    pub role: crate::authz::Role,
    pub joined_at: String,
    pub two_factor: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/accounts/{account_id}/members",
    tag = "members",
    security(("api_key" = ["members:read"])),
    params(("account_id" = String, Path, description = "The account")),
    responses(
        (status = 200, description = "The members", body = Vec<Member>),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn list(state: web::Data<AppState>, key: Key<scope::MembersRead>) -> ApiResult {
    let account_id = key.account_id();
    let emails = key.caller.role_can(Capability::ViewMemberEmails);
    let rows = state
        .db(move |conn| members::list(conn, account_id))
        .await?;
    let list: Vec<Member> = rows
        .into_iter()
        .map(|m| Member {
            user_id: m.user_id,
            two_factor: m.has_two_factor(),
            joined_at: time(&m.joined),
            name: m.display_name,
            email: emails.then_some(m.email),
            role: m.role,
        })
        .collect();
    ok(&list)
}
