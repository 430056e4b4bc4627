//! GET + POST /accounts/{id}/members/{user_id}/remove: an Admin removes a
//! member after a confirmation step. The removed member loses access on
//! their next request (memberships are read fresh on every request).

use actix_web::{HttpResponse, web};
use askama::Template;
use uuid::Uuid;

use crate::AppState;
use crate::authz::can;
use crate::members::{self, MemberRow};
use crate::web as w;
use crate::web::auth::Member;
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;

#[derive(Template)]
#[template(path = "members/remove.html")]
struct ConfirmRemovePage {
    layout: Layout,
    account_id: Uuid,
    account_name: String,
    target: MemberRow,
}

pub async fn confirm(
    state: web::Data<AppState>,
    member: Member<can::ManageMembers>,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (account_id, target) = path.into_inner();
    let target = state
        .db(move |conn| members::find(conn, account_id, target)?.ok_or(AppError::NotFound))
        .await?;
    w::page(&ConfirmRemovePage {
        layout: member.layout()?.section("members"),
        account_id,
        account_name: member.membership.account.name.clone(),
        target,
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    member: Member<can::ManageMembers>,
    path: web::Path<(Uuid, Uuid)>,
    client: ClientInfo,
) -> AppResult<HttpResponse> {
    let (account_id, target) = path.into_inner();
    let actor = member.actor();
    let result = state
        .db(move |conn| members::remove(conn, account_id, &actor, target, &client))
        .await
        .map(|removed| format!("{} was removed from the team.", removed.display_name));
    let to = format!("/accounts/{account_id}/members");
    members::list::after_action(&state, &member, result, &to).await
}
