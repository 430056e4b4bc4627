//! A request id for every request, the span that carries it, the access
//! log and the request metrics.
//!
//! Each request runs inside a `request` span holding its id, so every line
//! logged while it is answered (database work on the blocking pool
//! included, see `db::Database::block`) names it, in text and JSON alike.
//! The access log line holds method, path (never the query string, which
//! may carry tokens), status, duration and the pooled database connections
//! it took: no passwords, session keys or tokens. Metrics are counted by route pattern, never by path.

use std::fmt;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::Instrument;

use crate::telemetry;

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
    let span = tracing::info_span!("request", request_id = %id);
    async move {
        let method = req.method().clone();
        let path = req.path().to_string();
        let started = Instant::now();
        let (res, db_checkouts) = crate::db::counting_checkouts(next.call(req)).await;
        // Asked once routed: actix then finds the pattern by the matched
        // resource, where before routing it matched the path against
        // every route's pattern again.
        let (status, pattern) = match &res {
            Ok(res) => (res.status(), res.request().match_pattern()),
            Err(e) => (e.as_response_error().status_code(), None),
        };
        // Invite links carry their token in the path: log the route pattern there.
        let path = match &pattern {
            Some(pattern) if pattern.contains("token") => pattern.clone(),
            _ => path,
        };
        let route = pattern.unwrap_or_else(|| telemetry::UNMATCHED_ROUTE.to_string());
        let elapsed = started.elapsed().as_secs_f64();
        telemetry::record_request(method.as_str(), &route, status.as_u16(), elapsed);
        tracing::info!(
            %method,
            path,
            status = status.as_u16(),
            ms = elapsed * 1000.0,
            db_checkouts,
            "request"
        );
        res
    }
    .instrument(span)
    .await
}
