//! Convert to Team Account: the owner of a personal account names the team,
//! confirms, and the account becomes a team with its resources and history
//! kept and its owner as first Admin.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::{clean_name, teams};
use crate::audit::Origin;
use crate::authz::can;
use crate::ids::AccountId;
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w, session};

#[derive(Template)]
#[template(path = "accounts/convert.html")]
struct ConvertPage {
    layout: Layout,
    account_id: AccountId,
    name: String,
    error: Option<String>,
    /// Second step: the name is valid, ask for confirmation.
    confirming: bool,
}

fn check_convertible(member: &Member<can::ManageSettings>) -> AppResult<()> {
    Ok(teams::check_convertible(
        &member.membership.account,
        member.user().id,
    )?)
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
    origin: Origin,
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
    let cx = member.change(origin, state.clock.now());
    let team_name = name.clone();
    state
        .db(move |conn| teams::convert(conn, &cx, &team_name))
        .await?;
    session::success(
        member.session(),
        format!(
            "{name} is now a team account and you are its Admin. Invite your colleagues from this page."
        ),
    );
    Ok(w::see_other(&format!("/accounts/{account_id}/members")))
}
