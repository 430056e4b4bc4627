//! POST /accounts/{id}/members/{user_id}/role: an Admin changes a role.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::authz::{Role, can};
use crate::members;
use crate::web::auth::Member;
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
use crate::web::{self as w, session};

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    member: Member<can::ManageMembers>,
    path: web::Path<(Uuid, Uuid)>,
    client: ClientInfo,
    form: web::Form<RoleForm>,
) -> AppResult<HttpResponse> {
    let (account_id, target) = path.into_inner();
    let Some(new_role) = Role::parse(&form.role) else {
        let error = "Choose one of the roles: Basic, Billing, Dev or Admin.".to_string();
        return members::list::render(&state, &member, StatusCode::BAD_REQUEST, Some(error)).await;
    };
    let actor = member.actor();
    let result = state
        .db(move |conn| {
            let old = members::change_role(conn, account_id, &actor, target, new_role, &client)?;
            let who = members::find(conn, account_id, target)?.map(|m| m.display_name);
            Ok((old, who.unwrap_or_default()))
        })
        .await;
    match result {
        Ok((old, who)) if old == new_role => {
            session::flash(
                member.session(),
                session::FlashLevel::Info,
                format!("{who} already has the {new_role} role."),
            );
        }
        Ok((old, who)) => {
            session::success(
                member.session(),
                format!("{who} is now {new_role} (was {old})."),
            );
        }
        Err(AppError::Conflict(message)) => {
            return members::list::render(&state, &member, StatusCode::CONFLICT, Some(message))
                .await;
        }
        Err(e) => return Err(e),
    }
    Ok(w::see_other(&format!("/accounts/{account_id}/members")))
}
