//! GET /accounts/{id}/members: the Team page (every member sees it; Admins
//! get the controls).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::authz::{AccountKind, Capability, Role, can};
use crate::invites::{self, PendingInvite};
use crate::members::{self, MemberRow};
use crate::web as w;
use crate::web::auth::Member;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;

#[derive(Template)]
#[template(path = "members/list.html")]
struct MembersPage {
    layout: Layout,
    account_id: uuid::Uuid,
    account_name: String,
    me: uuid::Uuid,
    members: Vec<MemberRow>,
    roles: [Role; 4],
    can_manage: bool,
    can_invite: bool,
    invites: Vec<PendingInvite>,
}

#[derive(Template)]
#[template(path = "members/personal.html")]
struct PersonalHintPage {
    layout: Layout,
    account_id: uuid::Uuid,
    is_owner: bool,
}

/// A personal account has no Members page: it explains how to get one.
pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::UseAccount>,
) -> AppResult<HttpResponse> {
    if member.membership.account.kind() == AccountKind::Personal {
        return w::page(&PersonalHintPage {
            layout: member.layout()?.section("members"),
            account_id: member.account_id(),
            is_owner: member.membership.account.owner_id == member.user().id,
        });
    }
    if !member.can(Capability::ViewMembers) {
        return Err(AppError::Forbidden);
    }
    render(&state, &member, StatusCode::OK, None).await
}

/// How a Team page action ends: done → its flash message and a redirect to
/// `to`; refused by a rule (409, e.g. the last Admin) → the Team page with
/// the reason at the top; anything else is the error it is.
pub async fn after_action<C>(
    state: &AppState,
    member: &Member<C>,
    result: AppResult<String>,
    to: &str,
) -> AppResult<HttpResponse> {
    match result {
        Ok(done) => {
            crate::web::session::success(member.session(), done);
            Ok(w::see_other(to))
        }
        Err(AppError::Conflict(reason)) => {
            render(state, member, StatusCode::CONFLICT, Some(reason)).await
        }
        Err(e) => Err(e),
    }
}

/// The Team page, with `error` shown at the top (e.g. the last-Admin rule).
pub async fn render<C>(
    state: &AppState,
    member: &Member<C>,
    status: StatusCode,
    error: Option<String>,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let can_invite = member.can(Capability::ManageInvites);
    let (public_url, key) = (state.public_url.clone(), state.invite_link_key.clone());
    let (list, invites) = state
        .db(move |conn| {
            let invites = match can_invite {
                true => invites::pending(conn, account_id, &public_url, &key)?,
                false => Vec::new(),
            };
            Ok((members::list(conn, account_id)?, invites))
        })
        .await?;
    let layout = member.layout()?.section("members").with_error(error);
    w::render(
        status,
        &MembersPage {
            layout,
            account_id,
            account_name: member.membership.account.name.clone(),
            me: member.user().id,
            members: list,
            roles: Role::ALL,
            can_manage: member.can(Capability::ManageMembers),
            can_invite,
            invites,
        },
    )
}
