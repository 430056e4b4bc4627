//! GET /accounts/{id}/settings/audit-streaming: the destinations, each
//! with its status (last entry delivered, lag, last error), and the form
//! adding one; POST there adds it (confirmed with the password past ten
//! minutes, as it sends the whole log out of the console); POST
//! …/audit-streaming/{destination_id}/remove removes it, and
//! …/{destination_id}/retry tries a failing one on the next pass.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::audit::Origin;
use crate::authz::can;
use crate::format;
use crate::ids::{AccountId, StreamDestinationId};
use crate::streaming::{self, LAG_COUNTED, MAX_DESTINATIONS, NewDestination, NewDestinationErrors};
use crate::web::auth::{Member, Visit};
use crate::web::error::{AppError, AppResult};
use crate::web::layout::Layout;
use crate::web::reauth::{self, Ask, Submitted};
use crate::web::{self as w, session};

/// A destination as the page shows it.
struct Listed {
    id: StreamDestinationId,
    url: String,
    added: String,
    /// "Delivering", "Up to date", "Failing".
    state: &'static str,
    failing: bool,
    last_delivered: String,
    lag: String,
    last_error: Option<String>,
    next_attempt: Option<String>,
}

/// A secret the console made: shown once.
struct Made {
    url: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "streaming/page.html")]
struct StreamingPage {
    layout: Layout,
    account_id: AccountId,
    destinations: Vec<Listed>,
    max: i64,
    allow_private: bool,
    url: String,
    secret: String,
    errors: NewDestinationErrors,
    /// A refusal of the whole form (too many destinations).
    refused: Option<String>,
    made: Option<Made>,
}

fn listed(status: streaming::Status, now: OffsetDateTime) -> Listed {
    let row = &status.row;
    let failing = row.failures > 0;
    let state = match (failing, status.lag) {
        (true, _) => "Failing",
        (false, 0) => "Up to date",
        (false, _) => "Delivering",
    };
    let lag = match (status.lag, status.oldest_waiting) {
        (0, _) | (_, None) => "none".to_string(),
        (n, Some(oldest)) => {
            let count = if n > LAG_COUNTED {
                format!("more than {LAG_COUNTED} entries")
            } else if n == 1 {
                "1 entry".to_string()
            } else {
                format!("{n} entries")
            };
            format!(
                "{count}, the oldest written {}",
                format::time_ago(&oldest, now)
            )
        }
    };
    Listed {
        id: row.id,
        url: row.url.clone(),
        added: format::date(&row.created_at),
        state,
        failing,
        last_delivered: match &status.last_delivered {
            Some((id, action, at)) => format!(
                "entry {id} ({action}, written {}), delivered {}",
                format::time_ago(at, now),
                row.last_delivered_at
                    .map(|t| format::date_time(&t))
                    .unwrap_or_default()
            ),
            None => "nothing yet".to_string(),
        },
        lag,
        last_error: match (&row.last_error, row.last_error_at) {
            (Some(error), Some(at)) => Some(format!("{} ({error})", format::date_time(&at))),
            (Some(error), None) => Some(error.clone()),
            _ => None,
        },
        next_attempt: failing.then(|| {
            format!(
                "{} attempts failed in a row; next attempt {}",
                row.failures,
                format::date_time(&row.next_attempt_at)
            )
        }),
    }
}

/// The form as sent.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DestinationForm {
    url: String,
    secret: String,
}

struct Shown {
    status: StatusCode,
    errors: NewDestinationErrors,
    refused: Option<String>,
    made: Option<Made>,
}

async fn render(
    state: &AppState,
    member: &Member<can::ManageAuditStreaming>,
    form: &DestinationForm,
    shown: Shown,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    let listed = state
        .db(move |conn| streaming::list(conn, account_id))
        .await?;
    page(state, member, listed, form, shown)
}

fn page(
    state: &AppState,
    member: &Member<can::ManageAuditStreaming>,
    listed_now: Vec<streaming::Status>,
    form: &DestinationForm,
    shown: Shown,
) -> AppResult<HttpResponse> {
    let account_id = member.account_id();
    // Entries carry the wall clock's time, whatever the console's clock.
    let now = OffsetDateTime::now_utc();
    let destinations = listed_now.into_iter().map(|s| listed(s, now)).collect();
    let page = StreamingPage {
        layout: member.layout()?.section("settings"),
        account_id,
        destinations,
        max: MAX_DESTINATIONS,
        allow_private: state.audit_stream_allow_private,
        url: form.url.clone(),
        secret: form.secret.clone(),
        errors: shown.errors,
        refused: shown.refused,
        made: shown.made,
    };
    let mut res = w::render(shown.status, &page)?;
    // The page may hold a secret (typed, or made and shown once).
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

pub async fn show(
    state: web::Data<AppState>,
    visit: Visit<can::ManageAuditStreaming>,
) -> AppResult<HttpResponse> {
    let shown = Shown {
        status: StatusCode::OK,
        errors: NewDestinationErrors::default(),
        refused: None,
        made: None,
    };
    let (member, listed) = visit
        .db(|conn, access| streaming::list(conn, access.account_id()))
        .await?;
    page(&state, &member, listed, &DestinationForm::default(), shown)
}

/// Adding a destination sends every entry from now on out of the
/// console: a dangerous action, confirmed like creating an API key.
pub async fn add(
    state: web::Data<AppState>,
    member: Member<can::ManageAuditStreaming>,
    origin: Origin,
    submitted: Submitted<DestinationForm>,
) -> AppResult<HttpResponse> {
    let form = &submitted.form;
    let (url, secret, allow_private) = (
        form.url.clone(),
        form.secret.clone(),
        state.audit_stream_allow_private,
    );
    // Resolving the host is blocking work (DNS).
    let checked = web::block(move || NewDestination::check(&url, &secret, allow_private))
        .await
        .map_err(AppError::internal)?;
    let new = match checked {
        Ok(new) => new,
        Err(errors) => {
            let shown = Shown {
                status: StatusCode::BAD_REQUEST,
                errors,
                refused: None,
                made: None,
            };
            return render(&state, &member, form, shown).await;
        }
    };
    let account_id = member.account_id();
    let ask = || {
        Ok(Ask {
            layout: member.layout()?.section("settings"),
            what: format!("stream the audit log to {}", new.url),
            cancel: format!("/accounts/{account_id}/settings/audit-streaming"),
        })
    };
    if let Some(page) = reauth::confirm(&state, &member.signed_in, &origin, &submitted, ask).await?
    {
        return Ok(page);
    }
    let cx = member.change(origin, state.clock.now());
    let seal = state.audit_stream_seal.clone();
    let shown_url = streaming::address::recorded(&new.url);
    let added = state
        .core(move |conn| streaming::add(conn, &cx, &seal, &new))
        .await?;
    match added {
        Ok(added) => match added.made_secret {
            // The made secret is in this answer only.
            Some(secret) => {
                let shown = Shown {
                    status: StatusCode::OK,
                    errors: NewDestinationErrors::default(),
                    refused: None,
                    made: Some(Made {
                        url: shown_url,
                        secret,
                    }),
                };
                render(&state, &member, &DestinationForm::default(), shown).await
            }
            None => {
                session::success(
                    member.session(),
                    format!(
                        "Streaming the audit log to {shown_url}: every new entry is sent there."
                    ),
                );
                Ok(w::see_other(&format!(
                    "/accounts/{account_id}/settings/audit-streaming"
                )))
            }
        },
        Err(refused) => {
            let (status, message) = streaming::pages::refusal(&refused);
            let shown = Shown {
                status,
                errors: NewDestinationErrors::default(),
                refused: Some(message),
                made: None,
            };
            render(&state, &member, form, shown).await
        }
    }
}

#[derive(Deserialize)]
pub struct DestinationPath {
    destination_id: StreamDestinationId,
}

pub async fn remove(
    state: web::Data<AppState>,
    member: Member<can::ManageAuditStreaming>,
    path: web::Path<DestinationPath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    act(
        &state,
        member,
        path.destination_id,
        origin,
        streaming::remove,
        |url| format!("Stopped streaming to {url}: nothing more is sent there."),
    )
    .await
}

/// A failing destination is tried on the next pass (within 2 s).
pub async fn retry(
    state: web::Data<AppState>,
    member: Member<can::ManageAuditStreaming>,
    path: web::Path<DestinationPath>,
    origin: Origin,
) -> AppResult<HttpResponse> {
    act(
        &state,
        member,
        path.destination_id,
        origin,
        streaming::retry_now,
        |url| format!("Trying {url} again now: the status below shows how it went."),
    )
    .await
}

/// A change to one destination by its row's button: done, its flash and
/// back to the page; refused, the refusal's status and sentence.
async fn act(
    state: &AppState,
    member: Member<can::ManageAuditStreaming>,
    destination: StreamDestinationId,
    origin: Origin,
    change: fn(
        &mut diesel::PgConnection,
        &crate::audit::Change,
        StreamDestinationId,
    ) -> Result<streaming::DestinationRow, streaming::StreamingError>,
    done: impl FnOnce(String) -> String,
) -> AppResult<HttpResponse> {
    let cx = member.change(origin, state.clock.now());
    let row = state.db(move |conn| change(conn, &cx, destination)).await?;
    session::success(member.session(), done(row.url_without_query()));
    let account_id = member.account_id();
    Ok(w::see_other(&format!(
        "/accounts/{account_id}/settings/audit-streaming"
    )))
}
