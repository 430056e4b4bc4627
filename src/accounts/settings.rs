//! Account settings (Admin): rename a team; for a personal account, the
//! way to Convert to Team Account.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::accounts::clean_name;
use crate::audit::{self, Actor};
use crate::authz::{AccountKind, can};
use crate::db::schema::accounts;
use crate::web::auth::Member;
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::{self as w, session};

#[derive(Template)]
#[template(path = "accounts/settings.html")]
struct SettingsPage {
    layout: Layout,
    account_id: Uuid,
    is_team: bool,
    is_owner: bool,
    name: String,
    error: Option<String>,
}

fn settings_page(
    member: &Member<can::ManageSettings>,
    name: String,
    error: Option<String>,
) -> AppResult<SettingsPage> {
    let account = &member.membership.account;
    Ok(SettingsPage {
        layout: member.layout()?.section("settings"),
        account_id: account.id,
        is_team: account.kind() == AccountKind::Team,
        is_owner: account.owner_id == member.user().id,
        name,
        error,
    })
}

pub async fn show(member: Member<can::ManageSettings>) -> AppResult<HttpResponse> {
    let name = member.membership.account.name.clone();
    w::page(&settings_page(&member, name, None)?)
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    member: Member<can::ManageSettings>,
    client: ClientInfo,
    form: web::Form<RenameForm>,
) -> AppResult<HttpResponse> {
    if member.membership.account.kind() != AccountKind::Team {
        return Err(AppError::Conflict(
            "Only a team account has a team name. Convert this account to a team first.".into(),
        ));
    }
    let name = match clean_name(&form.name, "team name") {
        Ok(name) => name,
        Err(e) => {
            let page = settings_page(&member, form.name.clone(), Some(e))?;
            return w::render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let account_id = member.account_id();
    let actor = member.actor();
    let new_name = name.clone();
    state
        .db(move |conn| rename_team(conn, account_id, &new_name, &actor, &client))
        .await?;
    session::success(member.session(), format!("The team is now called {name}."));
    Ok(w::see_other(&format!("/accounts/{account_id}/settings")))
}

fn rename_team(
    conn: &mut PgConnection,
    account_id: Uuid,
    name: &str,
    actor: &Actor,
    client: &ClientInfo,
) -> AppResult<()> {
    conn.transaction(|conn| {
        let old: String = accounts::table
            .find(account_id)
            .select(accounts::name)
            .for_update()
            .first(conn)?;
        if old == name {
            return Ok(());
        }
        diesel::update(accounts::table.find(account_id))
            .set(accounts::name.eq(name))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(actor),
                action: "account.renamed",
                resource_type: "account",
                resource_id: Some(account_id.to_string()),
                client,
                details: json!({ "old_name": old, "new_name": name }),
            },
        )?;
        Ok(())
    })
}
