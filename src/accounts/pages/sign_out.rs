//! Sign-out: the session is deleted server-side, so a copied cookie is
//! useless afterwards.

use actix_session::Session;
use actix_web::{HttpResponse, web};

use crate::AppState;
use crate::accounts::users;
use crate::audit::Origin;
use crate::web as w;
use crate::web::auth::SignedIn;
use crate::web::error::AppResult;

pub async fn submit(
    state: web::Data<AppState>,
    signed_in: Option<SignedIn>,
    session: Session,
    origin: Origin,
) -> AppResult<HttpResponse> {
    if let Some(signed_in) = signed_in {
        let user = signed_in.user;
        state
            .db(move |conn| users::signed_out(conn, &user, &origin))
            .await?;
    }
    session.purge();
    Ok(w::see_other("/sign-in?signed_out=1"))
}
