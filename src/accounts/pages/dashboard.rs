//! The dashboard of the current account, and `/`, which sends people to
//! their personal account (or to sign in).

use actix_web::HttpResponse;
use askama::Template;

use crate::authz::{Capability, can};
use crate::web::auth::{Member, SignedIn};
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w};

#[derive(Template)]
#[template(path = "accounts/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    account_id: crate::ids::AccountId,
    account_name: String,
    is_team: bool,
    is_owner: bool,
    role: &'static str,
    can_pods: bool,
    can_billing: bool,
    can_members: bool,
}

pub async fn home(signed_in: SignedIn) -> AppResult<HttpResponse> {
    Ok(match signed_in.personal_account() {
        Some(m) => w::see_other(&format!("/accounts/{}", m.account.id)),
        None => w::see_other("/sign-in"),
    })
}

pub async fn show(member: Member<can::UseAccount>) -> AppResult<HttpResponse> {
    let account = &member.membership.account;
    w::page(&DashboardPage {
        layout: member.layout()?.section("dashboard"),
        account_id: account.id,
        account_name: account.name.clone(),
        is_team: account.is_team(),
        is_owner: account.owner_id == member.user().id,
        role: member.role().label(),
        can_pods: member.can(Capability::UsePods),
        can_billing: member.can(Capability::ViewBilling),
        can_members: member.can(Capability::ViewMembers),
    })
}
