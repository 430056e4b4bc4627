//! Convert to Team Account: the owner of a personal account names the team,
//! confirms, and the account becomes a team with its resources and history
//! kept and its owner as first Admin.

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
#[template(path = "accounts/convert.html")]
struct ConvertPage {
    layout: Layout,
    account_id: Uuid,
    name: String,
    error: Option<String>,
    /// Second step: the name is valid, ask for confirmation.
    confirming: bool,
}

const ALREADY_TEAM: &str = "This account is already a team account.";
const NOT_OWNER: &str = "Only the owner of a personal account can convert it.";

/// Only the owner of a personal account may convert it.
fn check_convertible(member: &Member<can::ManageSettings>) -> AppResult<()> {
    let account = &member.membership.account;
    if account.kind() != AccountKind::Personal {
        return Err(AppError::Conflict(ALREADY_TEAM.into()));
    }
    if account.owner_id != member.user().id {
        return Err(AppError::Conflict(NOT_OWNER.into()));
    }
    Ok(())
}

pub async fn form(member: Member<can::ManageSettings>) -> AppResult<HttpResponse> {
    check_convertible(&member)?;
    w::page(&ConvertPage {
        layout: member.layout()?.section("settings"),
        account_id: member.account_id(),
        name: String::new(),
        error: None,
        confirming: false,
    })
}

#[derive(Deserialize)]
pub struct ConvertForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    confirm: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    member: Member<can::ManageSettings>,
    client: ClientInfo,
    form: web::Form<ConvertForm>,
) -> AppResult<HttpResponse> {
    check_convertible(&member)?;
    let account_id = member.account_id();
    let name = match clean_name(&form.name, "team name") {
        Ok(name) => name,
        Err(error) => {
            let page = ConvertPage {
                layout: member.layout()?.section("settings"),
                account_id,
                name: form.name.clone(),
                error: Some(error),
                confirming: false,
            };
            return w::render(StatusCode::BAD_REQUEST, &page);
        }
    };
    if form.confirm != "yes" {
        return w::page(&ConvertPage {
            layout: member.layout()?.section("settings"),
            account_id,
            name,
            error: None,
            confirming: true,
        });
    }
    let actor = member.actor();
    let team_name = name.clone();
    state
        .db(move |conn| convert(conn, account_id, &team_name, &actor, &client))
        .await?;
    session::success(
        member.session(),
        format!(
            "{name} is now a team account and you are its Admin. Invite your colleagues from this page."
        ),
    );
    Ok(w::see_other(&format!("/accounts/{account_id}/members")))
}

fn convert(
    conn: &mut PgConnection,
    account_id: Uuid,
    name: &str,
    actor: &Actor,
    client: &ClientInfo,
) -> AppResult<()> {
    conn.transaction(|conn| {
        // Re-checked under the row lock: two confirmations racing convert once.
        let (kind, old_name, owner): (String, String, Uuid) = accounts::table
            .find(account_id)
            .select((accounts::kind, accounts::name, accounts::owner_id))
            .for_update()
            .first(conn)?;
        if kind != AccountKind::Personal.as_str() {
            return Err(AppError::Conflict(ALREADY_TEAM.into()));
        }
        if Some(owner) != actor.id {
            return Err(AppError::Conflict(NOT_OWNER.into()));
        }
        diesel::update(accounts::table.find(account_id))
            .set((
                accounts::kind.eq(AccountKind::Team.as_str()),
                accounts::name.eq(name),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(actor),
                action: "account.converted",
                resource_type: "account",
                resource_id: Some(account_id.to_string()),
                client,
                details: json!({ "name": name, "old_name": old_name }),
            },
        )?;
        Ok(())
    })
}
