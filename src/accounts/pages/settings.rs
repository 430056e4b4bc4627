//! Account settings (Admin): rename a team; for a personal account, the
//! way to Convert to Team Account.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::{AccountsError, clean_name, teams};
use crate::audit::Origin;
use crate::authz::can;
use crate::ids::AccountId;
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

#[derive(Template)]
#[template(path = "accounts/settings.html")]
struct SettingsPage {
    layout: Layout,
    account_id: AccountId,
    is_team: bool,
    is_owner: bool,
    name: String,
    error: Option<String>,
    require_two_factor: bool,
    /// The Admin has two-factor sign-in (required to require it).
    admin_has_two_factor: bool,
    /// Verifies the signed checkpoints of the audit log (hex).
    audit_public_key: String,
}

fn settings_page<C>(
    state: &AppState,
    member: &Member<C>,
    name: String,
    error: Option<String>,
) -> AppResult<SettingsPage> {
    let account = &member.membership.account;
    let key = crate::audit::chain::signing_key(&state.secret_key);
    Ok(SettingsPage {
        audit_public_key: crate::audit::chain::public_key_hex(&key.verifying_key()),
        layout: member.layout()?.section("settings"),
        account_id: account.id,
        is_team: account.is_team(),
        is_owner: account.owner_id == member.user().id,
        name,
        error,
        require_two_factor: account.require_two_factor,
        admin_has_two_factor: member.user().has_two_factor(),
    })
}

/// The settings page again, with a rule's refusal at the top of it.
pub(crate) fn settings_refusal<C>(
    state: &AppState,
    member: &Member<C>,
    status: StatusCode,
    error: String,
) -> AppResult<HttpResponse> {
    let name = member.membership.account.name.clone();
    let page = settings_page(state, member, name, None)?;
    let page = SettingsPage {
        layout: page.layout.with_error(Some(error)),
        ..page
    };
    w::render(status, &page)
}

pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::ManageSettings>,
) -> AppResult<HttpResponse> {
    let name = member.membership.account.name.clone();
    w::page(&settings_page(&state, &member, name, None)?)
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    member: Member<can::ManageSettings>,
    origin: Origin,
    form: web::Form<RenameForm>,
) -> AppResult<HttpResponse> {
    if !member.membership.account.is_team() {
        return Err(AccountsError::NotATeam.into());
    }
    let name = match clean_name(&form.name, "team name") {
        Ok(name) => name,
        Err(e) => {
            let page = settings_page(&state, &member, form.name.clone(), Some(e))?;
            return w::render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let account_id = member.account_id();
    let cx = member.change(origin, state.clock.now());
    let new_name = name.clone();
    state
        .db(move |conn| teams::rename(conn, &cx, &new_name))
        .await?;
    session::success(member.session(), format!("The team is now called {name}."));
    Ok(w::see_other(&format!("/accounts/{account_id}/settings")))
}
