//! Leaving for good (SPEC §13): the team's danger zone (delete it, or turn
//! it back into a personal account when the Admin is alone in it) and the
//! profile's "Delete your account". Each is a dangerous action: it asks
//! for the password (or a code) again past ten minutes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::leaving::{self, Consequences, LastAdminOf};
use crate::accounts::pages::refusal;
use crate::accounts::{AccountsError, models};
use crate::audit::Origin;
use crate::authz::can;
use crate::format::money;
use crate::ids::AccountId;
use crate::web::auth::{Member, SignedIn};
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, Submitted};
use crate::web::{self as w, session};

#[derive(Template)]
#[template(path = "accounts/delete_team.html")]
struct DeleteTeamPage {
    layout: Layout,
    account_id: AccountId,
    name: String,
    /// What was typed in the confirmation field.
    typed: String,
    error: Option<String>,
    running_pods: i64,
    pods: i64,
    pending_invites: i64,
    other_members: i64,
    /// "$12.00", shown only to who may see billing (an Admin may).
    balance: String,
    accrued: String,
    /// The Admin is the only member: the team can become personal instead.
    can_revert: bool,
    /// The Admin already has a personal account (SPEC §1: one each).
    has_personal: bool,
}

async fn delete_team_page(
    state: &AppState,
    member: &Member<can::DeleteTeam>,
    typed: String,
    error: Option<String>,
) -> AppResult<DeleteTeamPage> {
    let account_id = member.account_id();
    let now = state.clock.now();
    let me = member.user().id;
    let (c, personal): (Consequences, Option<AccountId>) = state
        .db(move |conn| {
            Ok::<_, diesel::result::Error>((
                leaving::consequences(conn, account_id, now)?,
                models::personal_account(conn, me)?,
            ))
        })
        .await?;
    Ok(DeleteTeamPage {
        layout: member.layout()?.section("settings"),
        account_id,
        name: member.membership.account.name.clone(),
        typed,
        error,
        running_pods: c.running_pods,
        pods: c.pods,
        pending_invites: c.pending_invites,
        other_members: c.other_members,
        balance: money(c.balance_cents),
        accrued: money(c.accrued_cents),
        can_revert: c.other_members == 0,
        has_personal: personal.is_some(),
    })
}

fn require_team(member: &Member<can::DeleteTeam>) -> AppResult<()> {
    if member.membership.account.is_team() {
        Ok(())
    } else {
        Err(AccountsError::NotATeam.into())
    }
}

/// GET /accounts/{id}/delete: the danger zone.
pub async fn delete_team_form(
    state: web::Data<AppState>,
    member: Member<can::DeleteTeam>,
) -> AppResult<HttpResponse> {
    require_team(&member)?;
    w::page(&delete_team_page(&state, &member, String::new(), None).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteTeamForm {
    /// The team's name, typed by the Admin.
    confirm_name: String,
}

/// POST /accounts/{id}/delete: deletes the team once its name is typed.
pub async fn delete_team(
    state: web::Data<AppState>,
    member: Member<can::DeleteTeam>,
    origin: Origin,
    submitted: Submitted<DeleteTeamForm>,
) -> AppResult<HttpResponse> {
    require_team(&member)?;
    let typed = submitted.form.confirm_name.clone();
    let name = member.membership.account.name.clone();
    // Checked before asking for the password, and again under the lock.
    if typed.trim() != name {
        return mismatch(&state, &member, typed).await;
    }
    let account_id = member.account_id();
    let ask = || {
        Ok(Ask {
            layout: member.layout()?.section("settings"),
            what: format!("delete the team {name}"),
            cancel: format!("/accounts/{account_id}/delete"),
        })
    };
    if let Some(page) = reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
    {
        return Ok(page);
    }
    let cx = member.change(origin, state.clock.now());
    let typed_again = typed.clone();
    let deleted = match state
        .core(move |conn| leaving::delete_team(conn, &cx, &typed_again))
        .await?
    {
        Ok(deleted) => deleted,
        Err(AccountsError::NameMismatch) => return mismatch(&state, &member, typed).await,
        Err(refused) => return Err(refused.into()),
    };
    let charged = if deleted.charged_cents > 0 {
        format!(
            " Its running Pods were charged {}.",
            money(deleted.charged_cents)
        )
    } else {
        String::new()
    };
    session::success(
        member.session(),
        format!(
            "The team {} is deleted: {} Pod(s) terminated, {} invite(s) revoked, {} member(s) removed.{charged} Its audit log is kept.",
            deleted.name, deleted.pods_terminated, deleted.invites_revoked, deleted.members_removed
        ),
    );
    Ok(w::see_other("/"))
}

async fn mismatch(
    state: &AppState,
    member: &Member<can::DeleteTeam>,
    typed: String,
) -> AppResult<HttpResponse> {
    let (status, message) = refusal(&AccountsError::NameMismatch);
    let page = delete_team_page(state, member, typed, Some(message.to_string())).await?;
    w::render(status, &page)
}

/// POST /accounts/{id}/revert: the team becomes its only member's
/// personal account again.
pub async fn revert(
    state: web::Data<AppState>,
    member: Member<can::DeleteTeam>,
    origin: Origin,
    submitted: Submitted<reauth::NoFields>,
) -> AppResult<HttpResponse> {
    require_team(&member)?;
    let account_id = member.account_id();
    let name = member.membership.account.name.clone();
    let ask = || {
        Ok(Ask {
            layout: member.layout()?.section("settings"),
            what: format!("turn the team {name} back into your personal account"),
            cancel: format!("/accounts/{account_id}/delete"),
        })
    };
    if let Some(page) = reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
    {
        return Ok(page);
    }
    let cx = member.change(origin, state.clock.now());
    match state
        .core(move |conn| leaving::revert_to_personal(conn, &cx))
        .await?
    {
        Ok(()) => {
            session::success(
                member.session(),
                format!(
                    "{name} is your personal account again. Its Pods, billing and history stay with it."
                ),
            );
            Ok(w::see_other(&format!("/accounts/{account_id}")))
        }
        Err(refused) => {
            let (status, message) = refusal(&refused);
            let page = delete_team_page(&state, &member, String::new(), None).await?;
            let page = DeleteTeamPage {
                layout: page.layout.with_error(Some(message.to_string())),
                ..page
            };
            w::render(status, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/delete_user.html")]
struct DeleteUserPage {
    layout: Layout,
    email: String,
    typed: String,
    error: Option<String>,
    /// Teams the person is the last Admin of: deleting waits for them.
    last_admin_of: Vec<LastAdminOf>,
    /// Teams they will leave.
    teams: Vec<String>,
}

async fn delete_user_page(
    state: &AppState,
    signed_in: &SignedIn,
    typed: String,
    error: Option<String>,
) -> AppResult<DeleteUserPage> {
    let user = signed_in.user.id;
    let last_admin_of = state
        .db(move |conn| leaving::last_admin_of(conn, user))
        .await?;
    Ok(DeleteUserPage {
        layout: signed_in.layout(None)?,
        email: signed_in.user.email.clone(),
        typed,
        error,
        last_admin_of,
        teams: signed_in
            .accounts
            .iter()
            .filter(|m| m.account.is_team())
            .map(|m| m.account.name.clone())
            .collect(),
    })
}

/// GET /profile/delete: what deleting one's account does, or which teams
/// need another Admin first.
pub async fn delete_user_form(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> AppResult<HttpResponse> {
    w::page(&delete_user_page(&state, &signed_in, String::new(), None).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteUserForm {
    /// The person's email, typed to confirm.
    confirm_email: String,
}

/// POST /profile/delete: deletes the person's user, then signs them out.
pub async fn delete_user(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    submitted: Submitted<DeleteUserForm>,
) -> AppResult<HttpResponse> {
    let typed = submitted.form.confirm_email.clone();
    if !typed.trim().eq_ignore_ascii_case(&signed_in.user.email) {
        let error = "Type your email exactly as shown to delete your account.".to_string();
        let page = delete_user_page(&state, &signed_in, typed, Some(error)).await?;
        return w::render(StatusCode::BAD_REQUEST, &page);
    }
    let ask = || {
        Ok(Ask {
            layout: signed_in.layout(None)?,
            what: "delete your account".into(),
            cancel: "/profile/delete".into(),
        })
    };
    if let Some(page) = reauth::confirm(&state, &signed_in, &origin, &submitted, ask).await? {
        return Ok(page);
    }
    let cx = signed_in.personal_change(origin, state.clock.now());
    match state
        .core(move |conn| leaving::delete_user(conn, &cx))
        .await?
    {
        Ok(_) => {
            signed_in.session.purge();
            Ok(w::see_other("/sign-in?account_deleted=1"))
        }
        Err(AccountsError::LastAdmin(teams)) => {
            let (status, message) = refusal(&AccountsError::LastAdmin(teams));
            let page = delete_user_page(&state, &signed_in, typed, None).await?;
            let page = DeleteUserPage {
                layout: page.layout.with_error(Some(message.to_string())),
                ..page
            };
            w::render(status, &page)
        }
        Err(AccountsError::Db(e)) => Err(AppError::from(e)),
        Err(refused) => Err(refused.into()),
    }
}
