//! GET /api/v1/accounts/{id}/audit (`audit:read`): the Audit logs page's
//! filters and free-text search (the same `FilterForm`, checked the same
//! way), newest first, at most 100 entries a page, each as the operator's
//! export writes it; `next` is the link to the following page (a keyset
//! cursor, never an offset), null on the last one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::{ApiResult, Key, Problem, ok, scope};
use crate::audit::export;
use crate::audit::filter::{Cursor, FilterErrors, FilterForm};
use crate::audit::query;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Limit {
    limit: String,
}

/// One page of entries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries as `team-console audit export` writes them: id,
    /// occurred_at, user_id, user_email, user_name, action, resource_type,
    /// resource_id, ip, user_agent, details, summary, and the chain's
    /// account_id, prev_hash and hash (hex), so that the entries verify
    /// offline (docs/audit-integrity.md).
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
    /// The next page's URL (same filter), or null on the last page.
    pub next: Option<String>,
}

/// Every message of a filter that does not hold, one sentence.
fn filter_problem(errors: &FilterErrors) -> Problem {
    let messages: Vec<String> = [
        ("from", &errors.from),
        ("to", &errors.to),
        ("user", &errors.user),
        ("resource", &errors.resource),
        ("resource_id", &errors.resource_id),
        ("action", &errors.action),
        ("q", &errors.q),
        ("cursor", &errors.cursor),
    ]
    .into_iter()
    .filter_map(|(field, message)| message.as_ref().map(|m| format!("{field}: {m}")))
    .collect();
    Problem::unprocessable(messages.join(" "))
}

#[utoipa::path(
    get,
    path = "/api/v1/accounts/{account_id}/audit",
    tag = "audit",
    security(("api_key" = ["audit:read"])),
    params(
        ("account_id" = String, Path, description = "The account"),
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (UTC)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD (UTC)"),
        ("user" = Option<String>, Query, description = "Who acted (user id)"),
        ("resource" = Option<String>, Query, description = "Resource type"),
        ("resource_id" = Option<String>, Query, description = "Resource id"),
        ("action" = Option<String>, Query, description = "Action, e.g. pod.stopped"),
        ("q" = Option<String>, Query, description = "Free text: names, emails, ids, details"),
        ("cursor" = Option<String>, Query, description = "From the previous page's next link"),
        ("limit" = Option<i64>, Query, description = "Entries per page, 1 to 100 (50)"),
    ),
    responses(
        (status = 200, description = "Entries, newest first", body = AuditPage),
        (status = 401, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 403, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 404, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "A filter that does not hold", body = crate::api::ProblemDocument, content_type = "application/problem+json"),
        (status = 429, body = crate::api::ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: Key<scope::AuditRead>,
) -> ApiResult {
    let query = req.query_string();
    let form: FilterForm = serde_urlencoded::from_str(query).map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "The address has an invalid parameter.",
        )
    })?;
    let limit: Limit = serde_urlencoded::from_str(query).unwrap_or_default();
    let limit = match limit.limit.trim() {
        "" => DEFAULT_LIMIT,
        raw => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::unprocessable(format!(
                    "limit: choose from 1 to {MAX_LIMIT} entries a page."
                ))
            })?,
    };
    let (filter, cursor) = form.check().map_err(|e| filter_problem(&e))?;
    // The API pages one way, older and older: a cursor is where to go on.
    let after = cursor.map(|c| Cursor { newer: false, ..c });
    let account_id = key.account_id();
    let rows = state
        .db(move |conn| query::batch(conn, account_id, &filter, after, limit))
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last())
        .flatten()
        .map(|last| {
            let base = format!("/api/v1/accounts/{account_id}/audit");
            let cursor = Cursor::encode(last.occurred_at, last.id);
            format!(
                "{}&limit={limit}",
                form.link(&base, &["cursor"]).with(&[&cursor])
            )
        });
    ok(&AuditPage {
        entries: rows.iter().map(export::json).collect(),
        next,
    })
}
