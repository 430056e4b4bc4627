//! CSRF protection for every unsafe request, as a middleware so that no
//! POST route can forget it.
//!
//! Three checks, all required: the browser must not say the request is
//! cross-site (`Sec-Fetch-Site`), an `Origin` header, when sent, must be the
//! console's own, and the form must carry the synchronizer token kept in the
//! session (compared in constant time).

use crate::web::session_store::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
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

/// Errors become responses here (not `Err`), so the error page and the
/// security headers of the outer middleware apply to them.
pub async fn csrf_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // The JSON API takes no cookies (a bearer key or nothing, see
    // `crate::api`), so a forged cross-site request carries no credential.
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || crate::api::is_api(req.path())
    {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    match check(req).await {
        Ok(req) => Ok(next.call(req).await?.map_into_left_body()),
        Err((req, error)) => Ok(req.error_response(error).map_into_right_body()),
    }
}

async fn check(mut req: ServiceRequest) -> Result<ServiceRequest, (ServiceRequest, AppError)> {
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
        return Err((req, refuse("cross-site request")));
    }
    let fetch_site = header("sec-fetch-site");
    match header("origin").as_deref() {
        None => {}
        Some(origin) if origin == public_origin => {}
        // Pages sent with `Referrer-Policy: no-referrer` (those carrying
        // invite links) make browsers send `Origin: null`; accept it only
        // when the browser vouches that the request is same-origin.
        Some("null") if fetch_site.as_deref() == Some("same-origin") => {}
        Some(_) => return Err((req, refuse("foreign origin"))),
    }

    let body = match req.extract::<web::Bytes>().await {
        Ok(body) if body.len() <= MAX_FORM_BYTES => body,
        _ => {
            let error = AppError::BadRequest("The form could not be read.".into());
            return Err((req, error));
        }
    };
    let sent = serde_urlencoded::from_bytes::<TokenField>(&body)
        .ok()
        .and_then(|f| f.csrf_token);
    let session = req.get_session();
    if let Err(error) = session.load(req.request()).await {
        return Err((req, error));
    }
    let expected = session.get::<String>(CSRF_KEY).ok().flatten();
    match (sent, expected) {
        (Some(sent), Some(expected)) if tokens::constant_time_eq(&sent, &expected) => {}
        _ => {
            tracing::warn!(
                reason = "missing or wrong token",
                "CSRF check refused a request"
            );
            return Err((req, AppError::FormExpired));
        }
    }
    req.set_payload(crate::web::input::bytes_to_payload(body));
    Ok(req)
}

fn refuse(reason: &'static str) -> AppError {
    tracing::warn!(reason, "CSRF check refused a request");
    AppError::Forbidden
}
