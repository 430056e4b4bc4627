//! GET + POST /accounts/{id}/leave: any member leaves a team, after a
//! confirmation step — except its last Admin.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::authz::can;
use crate::members;
use crate::web as w;
use crate::web::auth::Member;
use crate::web::client::ClientInfo;
use crate::web::error::AppResult;
use crate::web::layout::Layout;

#[derive(Template)]
#[template(path = "members/leave.html")]
struct ConfirmLeavePage {
    layout: Layout,
    account_id: uuid::Uuid,
    account_name: String,
}

pub async fn confirm(member: Member<can::Leave>) -> AppResult<HttpResponse> {
    w::page(&ConfirmLeavePage {
        layout: member.layout()?.section("members"),
        account_id: member.account_id(),
        account_name: member.membership.account.name.clone(),
    })
}

pub async fn submit(
    state: web::Data<AppState>,
    member: Member<can::Leave>,
    client: ClientInfo,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let actor = member.actor();
    let left = format!("You left {}.", member.membership.account.name);
    let result = state
        .db(move |conn| members::leave(conn, account_id, &actor, &client))
        .await
        .map(|()| left);
    members::list::after_action(&state, &member, result, "/").await
}
