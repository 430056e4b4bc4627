//! GET + POST /accounts/{id}/leave: any member leaves a team, after a
//! confirmation step — except its last Admin.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::can;
use crate::ids::AccountId;
use crate::members::{self, pages};
use crate::web as w;
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;

#[derive(Template)]
#[template(path = "members/leave.html")]
struct ConfirmLeavePage {
    layout: Layout,
    account_id: AccountId,
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
    origin: Origin,
) -> AppResult<HttpResponse> {
    let cx = member.change(origin, state.clock.now());
    let left = format!("You left {}.", member.membership.account.name);
    let outcome = state
        .core(move |conn| members::leave(conn, &cx))
        .await?
        .map(|()| left)
        .map_err(|refused| pages::refusal(&refused));
    pages::team::after_action(&state, &member, outcome, "/").await
}
