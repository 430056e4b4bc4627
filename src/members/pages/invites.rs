//! Pending invites on the Team page (Admin): regenerate a link (the old
//! one stops working), mail an invite again to its email, and revoke an
//! invite after a confirmation step.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::can;
use crate::ids::{AccountId, InviteId};
use crate::invites::{self, Invite};
use crate::members::pages::team;
use crate::web as w;
use crate::web::auth::{Member, Visit};
use crate::web::error::AppResult;
use crate::web::layout::Layout;

/// The invite in `/accounts/{account_id}/invites/{invite_id}/…` (the
/// account comes from `Member`).
#[derive(Deserialize)]
pub struct InvitePath {
    invite_id: InviteId,
}

/// Where invite actions return: the Pending invites section.
fn back(account_id: AccountId) -> String {
    format!("/accounts/{account_id}/members#invites")
}

pub async fn regenerate(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    path: web::Path<InvitePath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    let invite_id = path.invite_id;
    let cx = member.change(origin, state.clock.now());
    let links = state.invite_links.clone();
    let outcome = state
        .core(move |conn| invites::regenerate(conn, &cx, invite_id, &links))
        .await?
        .map(|()| "New link issued. The old link no longer works.".to_string());
    finish(&state, &member, outcome).await
}

/// Mails the invite again to the email it was made for (same link).
pub async fn resend(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    path: web::Path<InvitePath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    let invite_id = path.invite_id;
    let cx = member.change(origin, state.clock.now());
    let (links, outbox) = (state.invite_links.clone(), state.outbox.clone());
    let outcome = state
        .core(move |conn| invites::resend(conn, &cx, invite_id, &links, &outbox))
        .await?
        .map(|email| format!("The invite is sent again to {email}."));
    finish(&state, &member, outcome).await
}

/// The Team page after an invite action: its flash, or the refusal.
async fn finish(
    state: &AppState,
    member: &Member<can::ManageInvites>,
    outcome: Result<String, invites::InvitesError>,
) -> AppResult<HttpResponse> {
    let outcome = outcome.map_err(|refused| invites::pages::refusal(&refused));
    team::after_action(state, member, outcome, &back(member.account_id())).await
}

#[derive(Template)]
#[template(path = "invites/revoke.html")]
struct ConfirmRevokePage {
    layout: Layout,
    account_id: AccountId,
    invite: Invite,
}

pub async fn confirm_revoke(
    visit: Visit<can::ManageInvites>,
    path: web::Path<InvitePath>,
) -> AppResult<HttpResponse> {
    let invite_id = path.invite_id;
    let (member, invite) = visit
        .db(move |conn, access| invites::find(conn, access.account_id(), invite_id))
        .await?;
    let account_id = member.account_id();
    w::page(&ConfirmRevokePage {
        layout: member.layout()?.section("members"),
        account_id,
        invite,
    })
}

pub async fn revoke(
    state: web::Data<AppState>,
    member: Member<can::ManageInvites>,
    path: web::Path<InvitePath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    let invite_id = path.invite_id;
    let cx = member.change(origin, state.clock.now());
    let outcome = state
        .core(move |conn| invites::revoke(conn, &cx, invite_id))
        .await?
        .map(|()| "Invite revoked. Its link no longer works.".to_string());
    finish(&state, &member, outcome).await
}
