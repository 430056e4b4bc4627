//! Sign-out: the session is deleted server-side, so a copied cookie is
//! useless afterwards.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::audit::{self, Actor};
use crate::web as w;
use crate::web::auth::SignedIn;
use crate::web::client::ClientInfo;
use crate::web::error::AppResult;

pub async fn submit(
    state: web::Data<AppState>,
    signed_in: Option<SignedIn>,
    session: Session,
    client: ClientInfo,
) -> AppResult<HttpResponse> {
    if let Some(signed_in) = signed_in {
        let actor = Actor::user(signed_in.user.id, &signed_in.user.email);
        state
            .db(move |conn| {
                audit::record(
                    conn,
                    audit::Entry {
                        account_id: None,
                        actor: Some(&actor),
                        action: "user.signed_out",
                        resource_type: "user",
                        resource_id: actor.id.map(|id| id.to_string()),
                        client: &client,
                        details: json!({}),
                    },
                )?;
                Ok(())
            })
            .await?;
    }
    session.purge();
    Ok(w::see_other("/sign-in?signed_out=1"))
}
