//! POST /accounts/{id}/members/{user_id}/role: an Admin changes a role.
//! Making someone an Admin is dangerous: it asks the Admin to
//! re-authenticate when their last check is older than ten minutes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::{Role, can};
use crate::ids::AccountId;
use crate::members::{self, pages};
use crate::web as w;
use crate::web::auth::Member;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, Submitted};
use crate::web::session;

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    /// `yes` once the Admin confirmed making someone an Admin.
    #[serde(default)]
    confirm: String,
}

#[derive(Template)]
#[template(path = "members/make_admin.html")]
struct MakeAdminPage {
    layout: Layout,
    account_id: AccountId,
    account_name: String,
    target: members::MemberRow,
}

pub async fn submit(
    state: web::Data<AppState>,
    member: Member<can::ManageMembers>,
    path: web::Path<pages::remove::MemberPath>,
    origin: Origin,
    submitted: Submitted<RoleForm>,
) -> AppResult<HttpResponse> {
    let target = path.user_id;
    let Some(new_role) = Role::parse(&submitted.form.role) else {
        let error = "Choose one of the roles: Basic, Billing, Dev or Admin.".to_string();
        return pages::team::render(&state, &member, StatusCode::BAD_REQUEST, Some(error)).await;
    };
    if new_role == Role::Admin {
        let account_id = member.account_id();
        let found = state
            .db(move |conn| members::find(conn, account_id, target)?.ok_or(AppError::NotFound))
            .await?;
        // A deliberate step of its own: Admins can do everything, remove
        // other Admins included.
        if found.role != Role::Admin && submitted.form.confirm != "yes" {
            return w::page(&MakeAdminPage {
                layout: member.layout()?.section("members"),
                account_id,
                account_name: member.membership.account.name.clone(),
                target: found,
            });
        }
        let ask = || {
            Ok(Ask {
                layout: member.layout()?.section("members"),
                what: format!("make {} an Admin", found.display_name),
                cancel: format!("/accounts/{account_id}/members"),
            })
        };
        if let Some(page) =
            reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
        {
            return Ok(page);
        }
    }
    let cx = member.change(origin, state.clock.now());
    let changed = state
        .core(move |conn| members::change_role(conn, &cx, target, new_role))
        .await?;
    let was = match changed {
        Ok(was) => was,
        Err(refused) => {
            return pages::team::show_refusal(&state, &member, pages::refusal(&refused)).await;
        }
    };
    let who = was.display_name;
    let message = if was.role == new_role {
        format!("{who} already has the {new_role} role.")
    } else {
        format!("{who} is now {new_role} (was {}).", was.role)
    };
    let level = if was.role == new_role {
        session::FlashLevel::Info
    } else {
        session::FlashLevel::Success
    };
    session::flash(member.session(), level, message);
    let account_id = member.account_id();
    Ok(crate::web::see_other(&format!(
        "/accounts/{account_id}/members"
    )))
}
