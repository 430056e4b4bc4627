//! GET + POST /accounts/{id}/members/{user_id}/remove: an Admin removes a
//! member after a confirmation step (and, when their last check is older
//! than ten minutes, re-authenticating). The removed member loses access
//! on their next request (memberships are read fresh on every request).

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::can;
use crate::ids::{AccountId, UserId};
use crate::members::{self, MemberRow, pages};
use crate::web as w;
use crate::web::auth::{Member, Visit};
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, NoFields, Submitted};

/// The member in `/accounts/{account_id}/members/{user_id}/…` (the account
/// comes from `Member`).
#[derive(Deserialize)]
pub struct MemberPath {
    pub user_id: UserId,
}

#[derive(Template)]
#[template(path = "members/remove.html")]
struct ConfirmRemovePage {
    layout: Layout,
    account_id: AccountId,
    account_name: String,
    target: MemberRow,
}

pub async fn confirm(
    visit: Visit<can::ManageMembers>,
    path: web::Path<MemberPath>,
) -> AppResult<HttpResponse> {
    let target = path.user_id;
    let (member, target) = visit
        .db(move |conn, access| {
            members::find(conn, access.account_id(), target)?.ok_or(AppError::NotFound)
        })
        .await?;
    let account_id = member.account_id();
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
    path: web::Path<MemberPath>,
    origin: Origin,
    submitted: Submitted<NoFields>,
) -> AppResult<HttpResponse> {
    let (account_id, target) = (member.account_id(), path.user_id);
    let found = state
        .db(move |conn| members::find(conn, account_id, target)?.ok_or(AppError::NotFound))
        .await?;
    let ask = || {
        Ok(Ask {
            layout: member.layout()?.section("members"),
            what: format!("remove {} from the team", found.display_name),
            cancel: format!("/accounts/{account_id}/members"),
        })
    };
    if let Some(page) = reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
    {
        return Ok(page);
    }
    let cx = member.change(origin, state.clock.now());
    let outcome = state
        .core(move |conn| members::remove(conn, &cx, target))
        .await?
        .map(|removed| format!("{} was removed from the team.", removed.display_name))
        .map_err(|refused| pages::refusal(&refused));
    let to = format!("/accounts/{}/members", member.account_id());
    pages::team::after_action(&state, &member, outcome, &to).await
}
