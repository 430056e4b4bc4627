//! Liveness and readiness for load balancers and orchestrators.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;

use crate::AppState;
use crate::web::error::{AppError, AppResult};

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The database answers; 503 otherwise, saying why when the console's own
/// PostgreSQL keeps failing to start.
pub async fn readyz(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let answered = state
        .db(|conn| {
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map_err(|e| AppError::Unavailable(e.to_string()))
        })
        .await;
    if let Err(e) = answered {
        return Err(match crate::db::supervisor::problem() {
            Some(problem) => AppError::refused(StatusCode::SERVICE_UNAVAILABLE, problem),
            None => e,
        });
    }
    Ok(HttpResponse::Ok().content_type("text/plain").body("ready"))
}
