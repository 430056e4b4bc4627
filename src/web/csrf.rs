//! CSRF protection for every unsafe request, as a middleware so that no
//! POST route can forget it.
//!
//! Three checks, all required: the browser must not say the request is
//! cross-site (`Sec-Fetch-Site`), an `Origin` header, when sent, must be the
//! console's own, and the form must carry the synchronizer token kept in the
//! session (compared in constant time).

use actix_session::SessionExt;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use serde::Deserialize;

use crate::AppState;
use crate::tokens;
use crate::web::error::AppError;
use crate::web::session::CSRF_KEY;

/// The hidden form field every state-changing form carries.
pub const FIELD: &str = "csrf_token";
const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct TokenField {
    csrf_token: Option<String>,
}

pub async fn csrf_guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.call(req).await;
    }
    let public_origin = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.public_url.clone())
        .unwrap_or_default();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if header("sec-fetch-site").as_deref() == Some("cross-site") {
        return Err(refuse("cross-site request"));
    }
    if let Some(origin) = header("origin") {
        if origin != public_origin {
            return Err(refuse("foreign origin"));
        }
    }

    let body = req
        .extract::<web::Bytes>()
        .await
        .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
    if body.len() > MAX_FORM_BYTES {
        return Err(AppError::BadRequest("The form is too large.".into()).into());
    }
    let sent = serde_urlencoded::from_bytes::<TokenField>(&body)
        .ok()
        .and_then(|f| f.csrf_token);
    let expected = req.get_session().get::<String>(CSRF_KEY).ok().flatten();
    match (sent, expected) {
        (Some(sent), Some(expected)) if tokens::constant_time_eq(&sent, &expected) => {}
        _ => return Err(refuse("missing or wrong token")),
    }
    req.set_payload(bytes_to_payload(body));
    next.call(req).await
}

fn refuse(reason: &'static str) -> actix_web::Error {
    tracing::warn!(reason, "CSRF check refused a request");
    AppError::Forbidden.into()
}

fn bytes_to_payload(buf: Bytes) -> Payload {
    let (_, mut payload) = actix_http::h1::Payload::create(true);
    payload.unread_data(buf);
    Payload::from(payload)
}
