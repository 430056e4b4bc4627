//! GET /accounts/{id}/members: the Team page (every member sees it; Admins
//! get the controls), and how the actions taken on it end. Its Pending
//! invites section comes from the invites core.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::authz::{AccountKind, Capability, Role, can};
use crate::ids::{AccountId, UserId};
use crate::invites::{self, PendingInvite};
use crate::members::{self, MemberRow};
use crate::web as w;
use crate::web::auth::{Member, Visit};
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
    /// The access review (Admins): two-factor status and last activity.
    review: bool,
    /// Only members without two-factor authentication are listed.
    only_unprotected: bool,
    /// Members without two-factor authentication (of the whole team).
    unprotected: usize,
    total: usize,
    require_two_factor: bool,
    now: time::OffsetDateTime,
    /// The signed-in person is the team's only Admin: their role cannot
    /// change and they cannot leave, which the page says instead of
    /// offering controls that would be refused.
    only_admin: bool,
}

/// `?two_factor=off`: the access review's filter.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TeamQuery {
    pub two_factor: String,
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
    visit: Visit<can::UseAccount>,
    query: web::Query<TeamQuery>,
) -> AppResult<HttpResponse> {
    let (links, now) = (state.invite_links.clone(), state.clock.now());
    // A personal account's page and a refusal need nothing loaded.
    let (member, loaded) = visit
        .db(move |conn, access| {
            if access.membership.account.kind == AccountKind::Personal
                || !access.can(Capability::ViewMembers)
            {
                return Ok(None);
            }
            let can_invite = access.can(Capability::ManageInvites);
            load(conn, access.account_id(), can_invite, &links, now).map(Some)
        })
        .await?;
    if member.membership.account.kind == AccountKind::Personal {
        return w::page(&PersonalHintPage {
            layout: member.layout()?.section("members"),
            account_id: member.account_id(),
            is_owner: member.membership.account.owner_id == member.user().id,
        });
    }
    if !member.can(Capability::ViewMembers) {
        return Err(AppError::NotPermitted(Capability::ViewMembers));
    }
    let only_unprotected = query.two_factor == "off";
    let (list, invites) = loaded.ok_or(AppError::NotFound)?;
    page(
        &member,
        list,
        invites,
        StatusCode::OK,
        None,
        only_unprotected,
        now,
    )
}

/// What the Team page shows: the members, and the pending invites when
/// the viewer may manage them.
fn load(
    conn: &mut diesel::PgConnection,
    account_id: AccountId,
    can_invite: bool,
    links: &crate::invites::Links,
    now: time::OffsetDateTime,
) -> diesel::QueryResult<(Vec<MemberRow>, Vec<PendingInvite>)> {
    let invites = match can_invite {
        true => invites::pending(conn, account_id, links, now)?,
        false => Vec::new(),
    };
    Ok((members::list(conn, account_id)?, invites))
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

/// A rule refused an action of the Team page: back to the Team page
/// (303, post/redirect/get) with the reason as an error flash. A member
/// who is no longer allowed to act (403) gets the error page instead.
pub async fn show_refusal<C>(
    _state: &AppState,
    member: &Member<C>,
    (status, reason): Refused,
) -> AppResult<HttpResponse> {
    if status == StatusCode::FORBIDDEN {
        return Err(AppError::refused(status, reason));
    }
    crate::web::session::flash(
        member.session(),
        crate::web::session::FlashLevel::Error,
        reason,
    );
    Ok(w::see_other(&format!(
        "/accounts/{}/members",
        member.account_id()
    )))
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
        .db(move |conn| load(conn, account_id, can_invite, &links, now))
        .await?;
    page(member, list, invites, status, error, false, now)
}

/// The Team page; with `only_unprotected`, Admins see only the members
/// without two-factor authentication.
fn page<C>(
    member: &Member<C>,
    list: Vec<MemberRow>,
    invites: Vec<PendingInvite>,
    status: StatusCode,
    error: Option<String>,
    only_unprotected: bool,
    now: time::OffsetDateTime,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let can_invite = member.can(Capability::ManageInvites);
    let show_emails = member.can(Capability::ViewMemberEmails);
    let review = member.can(Capability::ManageMembers);
    let mut list = list;
    if !show_emails {
        // Not even in the page's data: only Admins see members' emails.
        list.iter_mut().for_each(|m| m.email.clear());
    }
    let only_admin =
        member.role() == Role::Admin && list.iter().filter(|m| m.role == Role::Admin).count() == 1;
    let (total, unprotected) = (
        list.len(),
        list.iter().filter(|m| !m.has_two_factor()).count(),
    );
    let only_unprotected = review && only_unprotected;
    if only_unprotected {
        list.retain(|m| !m.has_two_factor());
    }
    if !review {
        // The access review is the Admins': the others' pages hold none of it.
        list.iter_mut().for_each(|m| {
            m.two_factor_since = None;
            m.last_active_at = None;
        });
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
            review,
            only_unprotected,
            unprotected,
            total,
            require_two_factor: member.membership.account.require_two_factor,
            now,
            only_admin,
        },
    )
}
