//! POST /accounts/{id}/billing/funds and /billing/email (Billing, Admin).
//! A refused form re-renders the billing page with what was typed (400).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::AppState;
use crate::accounts::valid_email;
use crate::audit::Origin;
use crate::authz::can;
use crate::billing::history::Position;
use crate::billing::pages::page::{self, Forms};
use crate::billing::{self, amount};
use crate::format::money;
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::{self as w, session};

#[derive(Deserialize)]
pub struct FundsForm {
    #[serde(default)]
    amount: String,
}

pub async fn add_funds(
    state: web::Data<AppState>,
    member: Member<can::ManageBilling>,
    origin: Origin,
    form: web::Form<FundsForm>,
) -> AppResult<HttpResponse> {
    let cents = match amount::parse_funds(&form.amount) {
        Ok(cents) => cents,
        Err(message) => {
            let forms = Forms {
                amount: form.amount.clone(),
                amount_error: Some(message),
                ..Forms::default()
            };
            return page::render(
                &state,
                &member,
                StatusCode::BAD_REQUEST,
                forms,
                Position::Newest,
            )
            .await;
        }
    };
    let account_id = member.account_id();
    let cx = member.change(origin, state.clock.now());
    let balance = state
        .db(move |conn| billing::add_funds(conn, &cx, cents))
        .await?;
    session::success(
        member.session(),
        format!(
            "{} added. The balance is now {}.",
            money(cents),
            money(balance)
        ),
    );
    Ok(w::see_other(&format!("/accounts/{account_id}/billing")))
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

pub async fn change_email(
    state: web::Data<AppState>,
    member: Member<can::ManageBilling>,
    origin: Origin,
    form: web::Form<EmailForm>,
) -> AppResult<HttpResponse> {
    let email = form.email.trim().to_string();
    if !email.is_empty() && !valid_email(&email) {
        let forms = Forms {
            email: Some(form.email.clone()),
            email_error: Some("Enter an email address such as billing@example.com.".into()),
            ..Forms::default()
        };
        return page::render(
            &state,
            &member,
            StatusCode::BAD_REQUEST,
            forms,
            Position::Newest,
        )
        .await;
    }
    let account_id = member.account_id();
    let cx = member.change(origin, state.clock.now());
    let new = (!email.is_empty()).then(|| email.clone());
    let changed = state
        .db(move |conn| billing::change_email(conn, &cx, new.as_deref()))
        .await?;
    let message = match (changed, email.is_empty()) {
        (false, _) => "The billing email is unchanged.".to_string(),
        (true, true) => "The billing email was removed.".to_string(),
        (true, false) => format!("The billing email is now {email}."),
    };
    session::success(member.session(), message);
    Ok(w::see_other(&format!("/accounts/{account_id}/billing")))
}
