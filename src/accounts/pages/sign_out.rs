//! Sign-out: the session is deleted server-side, so a copied cookie is
//! useless afterwards.

use crate::web::session_store::Session;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::AppState;
use crate::accounts::users;
use crate::audit::Origin;
use crate::web::auth::SignedIn;
use crate::web::error::AppResult;
use crate::web::{self as w, session};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignOutForm {
    /// `invite`: keep the invite being looked at and go back to it, as
    /// the invite's "Sign out and continue as …" asks.
    pub then: String,
}

pub async fn submit(
    state: web::Data<AppState>,
    signed_in: Option<SignedIn>,
    session: Session,
    origin: Origin,
    form: web::Form<SignOutForm>,
) -> AppResult<HttpResponse> {
    if let Some(signed_in) = signed_in {
        let user = signed_in.user;
        state
            .db(move |conn| users::signed_out(conn, &user, &origin))
            .await?;
    }
    if session::sign_out(&session, form.then == "invite")? {
        session::flash(
            &session,
            session::FlashLevel::Info,
            "You are signed out. Sign in or create an account with the invite's email address to join.",
        );
        return Ok(w::see_other("/invite"));
    }
    Ok(w::see_other("/sign-in?signed_out=1"))
}
