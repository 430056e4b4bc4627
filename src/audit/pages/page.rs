//! GET /accounts/{id}/audit: the Audit logs page (Admin). Newest first, 50
//! a page, filtered by a GET form so every view is a shareable URL.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::PgConnection;

use crate::AppState;
use crate::audit::filter::{Cursor, FilterErrors, FilterForm, Link};
use crate::audit::query::{self, PageRow, Person};
use crate::audit::{ActionKind, RESOURCE_TYPES};
use crate::authz::can;
use crate::ids::AccountId;
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;

pub const PAGE_SIZE: i64 = 50;

/// One table row: the entry and what the page computes for it.
struct Row<'a> {
    entry: &'a PageRow,
    when: String,
    /// Where the resource lives, if it still exists.
    resource_link: Option<String>,
    /// Links that add this row's value to the filter.
    by_user: String,
    by_action: String,
    by_resource: String,
    by_resource_id: String,
}

#[derive(Template)]
#[template(path = "audit/page.html")]
struct AuditPage<'a> {
    layout: Layout,
    account_id: AccountId,
    form: FilterForm,
    errors: FilterErrors,
    people: Vec<Person>,
    actions: Vec<&'static str>,
    resource_types: &'static [&'static str],
    rows: Vec<Row<'a>>,
    filtered: bool,
    clear_url: String,
    export_url: String,
    newer_url: Option<String>,
    older_url: Option<String>,
}

/// The filter links of a page's cells, each with one field open.
struct CellLinks {
    user: Link,
    action: Link,
    resource: Link,
    resource_id: Link,
}

impl CellLinks {
    fn new(form: &FilterForm, base: &str) -> CellLinks {
        CellLinks {
            user: form.link(base, &["user"]),
            action: form.link(base, &["action"]),
            resource: form.link(base, &["resource"]),
            resource_id: form.link(base, &["resource", "resource_id"]),
        }
    }
}

/// `exists`: the entry's resource is still there, so it gets a link.
fn row<'a>(entry: &'a PageRow, exists: bool, account_id: AccountId, links: &CellLinks) -> Row<'a> {
    let resource_id = entry.resource_id.as_deref().unwrap_or_default();
    let resource_link =
        (exists && !resource_id.is_empty()).then(|| match entry.resource_type.as_str() {
            "pod" => format!("/accounts/{account_id}/pods/{resource_id}/connect"),
            _ => format!("/accounts/{account_id}/members"),
        });
    let actor = entry.actor_id.map(|id| id.to_string()).unwrap_or_default();
    Row {
        entry,
        when: crate::format::date_time_seconds(&entry.occurred_at),
        resource_link,
        by_user: links.user.with(&[&actor]),
        by_action: links.action.with(&[&entry.action]),
        by_resource: links.resource.with(&[&entry.resource_type]),
        by_resource_id: links.resource_id.with(&[&entry.resource_type, resource_id]),
    }
}

pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::ViewAuditLog>,
    query: web::Query<FilterForm>,
) -> AppResult<HttpResponse> {
    let form = query.into_inner();
    let account_id = member.account_id();
    let layout = member.layout()?.section("audit");
    // The page is rendered on the thread that read its rows, so they are
    // neither moved nor freed across threads (the connection stays taken
    // for the tenth of a millisecond that takes).
    let (status, html) = state
        .db(move |conn| render(conn, layout, account_id, form))
        .await?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

fn render(
    conn: &mut PgConnection,
    layout: Layout,
    account_id: AccountId,
    form: FilterForm,
) -> AppResult<(StatusCode, String)> {
    let base = format!("/accounts/{account_id}/audit");
    let (filter, cursor, errors) = match form.check() {
        Ok((filter, cursor)) => (Some(filter), cursor, FilterErrors::default()),
        Err(errors) => (None, None, *errors),
    };
    let people = query::people(conn, account_id)?;
    let page = match &filter {
        Some(filter) => Some(query::page(conn, account_id, filter, cursor, PAGE_SIZE)?),
        None => None,
    };
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let (rows, newer_url, older_url) = match &page {
        Some(page) => {
            // The page's own links are query-only ("?user=…"): the browser
            // keeps the path, and the page is a fifth smaller.
            let links = CellLinks::new(&form, "");
            let rows = page
                .entries
                .iter()
                .map(|(e, exists)| row(e, *exists, account_id, &links))
                .collect();
            let newer = page
                .entries
                .first()
                .filter(|_| page.has_newer)
                .map(|(e, _)| {
                    form.url(
                        "",
                        &[
                            ("cursor", &Cursor::encode(e.occurred_at, e.id)),
                            ("dir", "newer"),
                        ],
                    )
                });
            let older = page
                .entries
                .last()
                .filter(|_| page.has_older)
                .map(|(e, _)| form.url("", &[("cursor", &Cursor::encode(e.occurred_at, e.id))]));
            (rows, newer, older)
        }
        None => (Vec::new(), None, None),
    };
    let filtered = filter.is_some_and(|f| {
        f.since.is_some()
            || f.until.is_some()
            || f.user.is_some()
            || f.resource.is_some()
            || f.resource_id.is_some()
            || f.action.is_some()
    });
    let html = AuditPage {
        layout,
        account_id,
        export_url: form.url(&format!("{base}.csv"), &[]),
        clear_url: base,
        form,
        errors,
        people,
        actions: ActionKind::account_log().map(ActionKind::name).collect(),
        resource_types: RESOURCE_TYPES,
        rows,
        filtered,
        newer_url,
        older_url,
    }
    .render()?;
    Ok((status, html))
}
