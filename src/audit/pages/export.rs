//! GET /accounts/{id}/audit.csv: exactly the filtered view, every matching
//! entry, streamed in keyset batches (never loaded whole into memory).
//! Cells that a spreadsheet would run as a formula are defused.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;

use crate::AppState;
use crate::audit::filter::{Cursor, Filter, FilterForm};
use crate::audit::query::{self, EntryRow};
use crate::authz::can;
use crate::web::auth::Visit;
use crate::web::error::{AppError, AppResult};
use crate::web::request_id::RequestId;

use crate::audit::export::{BATCH, csv};

fn encode(rows: &[EntryRow], header: bool) -> Result<Bytes, ::csv::Error> {
    csv(rows, header).map(Bytes::from)
}

struct Progress {
    state: web::Data<AppState>,
    filter: Filter,
    /// The batch read before the response began.
    ready: Option<Vec<EntryRow>>,
    after: Option<Cursor>,
    first: bool,
    done: bool,
    request_id: RequestId,
}

/// The file's last line when the database failed once streaming had
/// begun: the status (200) is sent by then, so the file itself says it is
/// incomplete, with the request id that finds the logged cause.
fn incomplete(request_id: RequestId) -> Bytes {
    Bytes::from(format!(
        "EXPORT INCOMPLETE: the database failed while this file was written (request id {request_id}). Export again.\n"
    ))
}

pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    visit: Visit<can::ViewAuditLog>,
    query: web::Query<FilterForm>,
) -> AppResult<HttpResponse> {
    let (filter, _) = query.check().map_err(|_| {
        AppError::BadRequest(
            "This filter is not valid: correct it on the Audit logs page, then export.".into(),
        )
    })?;
    // The first batch is read before the first byte: a failure there is
    // still the request's status (503, 500).
    let first_filter = filter.clone();
    let (member, ready) = visit
        .db(move |conn, access| query::batch(conn, access.account_id(), &first_filter, None, BATCH))
        .await?;
    let account_id = member.account_id();
    let start = Progress {
        state: state.clone(),
        filter,
        ready: Some(ready),
        after: None,
        first: true,
        done: false,
        request_id: RequestId::of(&req),
    };
    let body = stream::unfold(start, move |mut p| async move {
        if p.done {
            return None;
        }
        let rows = match p.ready.take() {
            Some(rows) => Ok(rows),
            None => {
                let (filter, after) = (p.filter.clone(), p.after);
                p.state
                    .db(move |conn| query::batch(conn, account_id, &filter, after, BATCH))
                    .await
            }
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(request_id = %p.request_id, error = %e, "audit export failed mid-stream");
                p.done = true;
                return Some((Ok(incomplete(p.request_id)), p));
            }
        };
        p.done = (rows.len() as i64) < BATCH;
        p.after = rows.last().map(|e| Cursor {
            occurred_at: e.occurred_at,
            id: e.id,
            newer: false,
        });
        let chunk = match encode(&rows, p.first) {
            Ok(chunk) => chunk,
            Err(e) => {
                tracing::error!(request_id = %p.request_id, error = %e, "audit export could not encode");
                p.done = true;
                incomplete(p.request_id)
            }
        };
        p.first = false;
        Some((Ok::<_, actix_web::Error>(chunk), p))
    });
    let filename = format!("audit-{account_id}.csv");
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}
