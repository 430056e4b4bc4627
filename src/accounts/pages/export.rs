//! GET /profile/export: "Export your data", a JSON download of what the
//! console holds about the signed-in person (`accounts::export`). The
//! opening part is read before the response starts; the audit entries
//! then stream in batches, so a long history is never held whole.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt, stream};

use crate::AppState;
use crate::accounts::export::{self, BATCH};
use crate::ids::{AccountId, UserId};
use crate::web::auth::SignedIn;
use crate::web::error::AppResult;
use crate::web::request_id::RequestId;

struct Progress {
    state: web::Data<AppState>,
    user: UserId,
    billing_visible: Vec<AccountId>,
    after: i64,
    first: bool,
    done: bool,
    request_id: RequestId,
}

pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> AppResult<HttpResponse> {
    let user = signed_in.user.id;
    let now = crate::format::rfc3339(&state.clock.now());
    let (head, billing_visible) = state
        .db(move |conn| {
            Ok::<_, diesel::result::Error>((
                export::head(conn, user)?,
                export::billing_visible(conn, user)?,
            ))
        })
        .await?;
    // `{"exported_at": …, "profile": …, …, "audit_entries": [` then the
    // entries, then `]}`.
    let mut opening = serde_json::Map::new();
    opening.insert("exported_at".into(), now.into());
    opening.extend(head);
    let mut text = serde_json::Value::Object(opening).to_string();
    text.pop();
    text.push_str(",\"audit_entries\":[");
    let start = Progress {
        state: state.clone(),
        user,
        billing_visible,
        after: 0,
        first: true,
        done: false,
        request_id: RequestId::of(&req),
    };
    let entries = stream::unfold(start, |mut p| async move {
        if p.done {
            return None;
        }
        let (user, after, visible) = (p.user, p.after, p.billing_visible.clone());
        let rows = p
            .state
            .db(move |conn| export::own_entries(conn, user, &visible, after, BATCH))
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                // The status (200) is sent: end the JSON invalid, so the
                // file cannot pass for complete.
                tracing::error!(request_id = %p.request_id, error = %e, "data export failed mid-stream");
                p.done = true;
                let said = format!("\nEXPORT INCOMPLETE (request id {})", p.request_id);
                return Some((Ok::<_, actix_web::Error>(Bytes::from(said)), p));
            }
        };
        p.done = (rows.len() as i64) < BATCH;
        let mut chunk = String::new();
        for (id, value) in rows {
            if !p.first {
                chunk.push(',');
            }
            p.first = false;
            chunk.push_str(&value.to_string());
            p.after = id;
        }
        if p.done {
            chunk.push_str("]}");
        }
        Some((Ok(Bytes::from(chunk)), p))
    });
    let body =
        stream::once(async move { Ok::<_, actix_web::Error>(Bytes::from(text)) }).chain(entries);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"team-console-data.json\"",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body))
}
