//! POST /accounts/{id}/settings/two-factor: an Admin requires two-factor
//! authentication of the team's members, or stops requiring it. Turning it
//! on first lists the members who do not have it (they will see only a
//! page asking them to set it up); either change asks the Admin to
//! re-authenticate when their last check is older than ten minutes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::AccountsError;
use crate::accounts::pages::refusal;
use crate::accounts::pages::settings::settings_refusal;
use crate::accounts::teams::{self, Unprotected};
use crate::audit::Origin;
use crate::authz::can;
use crate::ids::AccountId;
use crate::web::auth::Member;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, Submitted};
use crate::web::{self as w, session};

#[derive(Template)]
#[template(path = "accounts/require_two_factor.html")]
struct ConfirmPage {
    layout: Layout,
    account_id: AccountId,
    team_name: String,
    without: Vec<Unprotected>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RuleForm {
    /// "on" or "off".
    pub require: String,
    /// "yes" once the Admin saw who is without it.
    pub confirm: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    member: Member<can::RequireTwoFactor>,
    origin: Origin,
    submitted: Submitted<RuleForm>,
) -> AppResult<HttpResponse> {
    let account = &member.membership.account;
    let account_id = account.id;
    let settings = format!("/accounts/{account_id}/settings");
    let required = match submitted.form.require.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return Err(AppError::BadRequest(
                "Choose whether to require two-factor authentication (on or off).".into(),
            ));
        }
    };
    if required == account.require_two_factor {
        session::flash(
            member.session(),
            session::FlashLevel::Info,
            if required {
                "Two-factor authentication is already required."
            } else {
                "Two-factor authentication is not required."
            },
        );
        return Ok(w::see_other(&settings));
    }
    if required && !member.user().has_two_factor() {
        let (status, message) = refusal(&AccountsError::TwoFactorFirst);
        return settings_refusal(&state, &member, status, message.into());
    }
    if required && submitted.form.confirm != "yes" {
        let without = state
            .db(move |conn| teams::members_without_two_factor(conn, account_id))
            .await?;
        return w::page(&ConfirmPage {
            layout: member.layout()?.section("settings"),
            account_id,
            team_name: account.name.clone(),
            without,
        });
    }
    let team_name = account.name.clone();
    let ask = || {
        Ok(Ask {
            layout: member.layout()?.section("settings"),
            what: if required {
                format!("require two-factor authentication in {team_name}")
            } else {
                format!("stop requiring two-factor authentication in {team_name}")
            },
            cancel: settings.clone(),
        })
    };
    if let Some(page) = reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
    {
        return Ok(page);
    }
    let cx = member.change(origin, state.clock.now());
    let changed = state
        .core(move |conn| teams::set_two_factor_rule(conn, &cx, required))
        .await?;
    if let Err(refused) = changed {
        let (status, message) = refusal(&refused);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Err(refused.into());
        }
        return settings_refusal(&state, &member, status, message.into());
    }
    session::success(
        member.session(),
        if required {
            "Two-factor authentication is now required: members without it see only a page asking them to set it up."
        } else {
            "Two-factor authentication is no longer required in this team."
        },
    );
    Ok(w::see_other(&settings))
}
