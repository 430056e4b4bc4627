//! A request id for every request, and the access log.
//!
//! The log line holds method, path (never the query string, which may carry
//! tokens), status and duration: no passwords, session keys or tokens.

use std::fmt;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

#[derive(Clone, Copy)]
pub struct RequestId(uuid::Uuid);

impl RequestId {
    pub fn of(req: &actix_web::HttpRequest) -> RequestId {
        req.extensions()
            .get::<RequestId>()
            .copied()
            .unwrap_or(RequestId(uuid::Uuid::nil()))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId(uuid::Uuid::new_v4());
    req.extensions_mut().insert(id);
    let method = req.method().clone();
    // Invite links carry their token in the path: log the route pattern there.
    let path = req
        .match_pattern()
        .filter(|p| p.contains("token"))
        .unwrap_or_else(|| req.path().to_string());
    let started = Instant::now();
    let res = next.call(req).await?;
    tracing::info!(
        request_id = %id,
        %method,
        path,
        status = res.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(res)
}
