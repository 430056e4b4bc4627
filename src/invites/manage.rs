//! Pending invites (Admin): regenerate a link (the old one stops working)
//! and revoke an invite after a confirmation step.

use actix_web::{HttpResponse, web};
use askama::Template;
use uuid::Uuid;

use crate::AppState;
use crate::authz::can;
use crate::db::schema::invites as invites_table;
use crate::invites::{self, Invite};
use crate::members;
use crate::web as w;
use crate::web::auth::Member;
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;

/// Where invite actions return: the Pending invites section.
fn back(account_id: Uuid) -> String {
    format!("/accounts/{account_id}/members#invites")
}

pub async fn regenerate(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    path: web::Path<(Uuid, Uuid)>,
    client: ClientInfo,
) -> AppResult<HttpResponse> {
    let (account_id, invite_id) = path.into_inner();
    let actor = member.actor();
    let key = state.invite_link_key.clone();
    let result = state
        .db(move |conn| invites::regenerate(conn, account_id, invite_id, &actor, &client, &key))
        .await
        .map(|()| "New link issued. The old link no longer works.".to_string());
    members::list::after_action(&state, &member, result, &back(account_id)).await
}

#[derive(Template)]
#[template(path = "invites/revoke.html")]
struct ConfirmRevokePage {
    layout: Layout,
    account_id: Uuid,
    invite: Invite,
}

pub async fn confirm_revoke(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    use diesel::prelude::*;
    let (account_id, invite_id) = path.into_inner();
    let invite = state
        .db(move |conn| {
            invites_table::table
                .filter(invites_table::account_id.eq(account_id))
                .filter(invites_table::id.eq(invite_id))
                .select(Invite::as_select())
                .first(conn)
                .map_err(AppError::from)
        })
        .await?;
    w::page(&ConfirmRevokePage {
        layout: member.layout()?.section("members"),
        account_id,
        invite,
    })
}

pub async fn revoke(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    path: web::Path<(Uuid, Uuid)>,
    client: ClientInfo,
) -> AppResult<HttpResponse> {
    let (account_id, invite_id) = path.into_inner();
    let actor = member.actor();
    let result = state
        .db(move |conn| invites::revoke(conn, account_id, invite_id, &actor, &client))
        .await
        .map(|()| "Invite revoked. Its link no longer works.".to_string());
    members::list::after_action(&state, &member, result, &back(account_id)).await
}
