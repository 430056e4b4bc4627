//! GET /accounts/{id}/members: the Team page (every member sees it; Admins
//! get the controls), and how the actions taken on it end. Its Pending
//! invites section comes from the invites core.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::AppState;
use crate::authz::{AccountKind, Capability, Role, can};
use crate::ids::{AccountId, UserId};
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
    account_id: AccountId,
    account_name: String,
    me: UserId,
    members: Vec<MemberRow>,
    roles: [Role; 4],
    can_manage: bool,
    can_invite: bool,
    show_emails: bool,
    invites: Vec<PendingInvite>,
}

#[derive(Template)]
#[template(path = "members/personal.html")]
struct PersonalHintPage {
    layout: Layout,
    account_id: AccountId,
    is_owner: bool,
}

/// A personal account has no Members page: it explains how to get one.
pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::UseAccount>,
) -> AppResult<HttpResponse> {
    if member.membership.account.kind == AccountKind::Personal {
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

/// A rule's refusal, as the Team page shows it: its status and sentence.
pub type Refused = (StatusCode, String);

/// How a Team page action ends: done → its flash message and a redirect to
/// `to`; refused by a rule (e.g. the last Admin) → the Team page with the
/// reason at the top, under the refusal's status.
pub async fn after_action<C>(
    state: &AppState,
    member: &Member<C>,
    outcome: Result<String, Refused>,
    to: &str,
) -> AppResult<HttpResponse> {
    match outcome {
        Ok(done) => {
            crate::web::session::success(member.session(), done);
            Ok(w::see_other(to))
        }
        Err(refused) => show_refusal(state, member, refused).await,
    }
}

/// A rule refused an action of the Team page: the page again with the
/// reason at the top. A member who is no longer allowed to act (403)
/// gets the error page instead.
pub async fn show_refusal<C>(
    state: &AppState,
    member: &Member<C>,
    (status, reason): Refused,
) -> AppResult<HttpResponse> {
    if status == StatusCode::FORBIDDEN {
        return Err(AppError::refused(status, reason));
    }
    render(state, member, status, Some(reason)).await
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
    let links = state.invite_links.clone();
    let now = state.clock.now();
    let (list, invites) = state
        .db(move |conn| {
            let invites = match can_invite {
                true => invites::pending(conn, account_id, &links, now)?,
                false => Vec::new(),
            };
            Ok::<_, diesel::result::Error>((members::list(conn, account_id)?, invites))
        })
        .await?;
    let show_emails = member.can(Capability::ViewMemberEmails);
    let mut list = list;
    if !show_emails {
        // Not even in the page's data: only Admins see members' emails.
        list.iter_mut().for_each(|m| m.email.clear());
    }
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
            show_emails,
            invites,
        },
    )
}
