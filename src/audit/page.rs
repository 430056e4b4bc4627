//! GET /accounts/{id}/audit: the Audit logs page (Admin). Newest first, 50
//! a page, filtered by a GET form so every view is a shareable URL.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use uuid::Uuid;

use crate::AppState;
use crate::audit::filter::{Cursor, FilterErrors, FilterForm, Link};
use crate::audit::query::{self, EntryRow, Person};
use crate::audit::{ACTIONS, RESOURCE_TYPES};
use crate::authz::can;
use crate::web::auth::Member;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w};

pub const PAGE_SIZE: i64 = 50;

/// One table row, ready to show.
pub struct Row {
    pub when: String,
    pub user: Option<(String, String)>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// Where the resource lives, if it still exists.
    pub resource_link: Option<String>,
    pub ip: String,
    pub details: String,
    /// Links that add this row's value to the filter.
    pub by_user: String,
    pub by_action: String,
    pub by_resource: String,
    pub by_resource_id: String,
}

#[derive(Template)]
#[template(path = "audit/page.html")]
struct AuditPage {
    layout: Layout,
    account_id: Uuid,
    form: FilterForm,
    errors: FilterErrors,
    people: Vec<Person>,
    actions: &'static [&'static str],
    resource_types: &'static [&'static str],
    rows: Vec<Row>,
    filtered: bool,
    clear_url: String,
    export_url: String,
    newer_url: Option<String>,
    older_url: Option<String>,
}

/// "old_role: basic, new_role: admin", short.
fn summarise(details: &serde_json::Value) -> String {
    let Some(map) = details.as_object() else {
        return String::new();
    };
    let text = map
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
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
fn row(entry: &EntryRow, exists: bool, account_id: Uuid, links: &CellLinks) -> Row {
    let resource_id = entry.resource_id.clone();
    let resource_link =
        resource_id
            .as_ref()
            .filter(|_| exists)
            .map(|id| match entry.resource_type.as_str() {
                "pod" => format!("/accounts/{account_id}/pods/{id}/connect"),
                _ => format!("/accounts/{account_id}/members"),
            });
    let actor = entry.actor_id.map(|id| id.to_string()).unwrap_or_default();
    Row {
        when: crate::web::format::date_time_seconds(&entry.occurred_at),
        user: entry.actor_id.map(|id| {
            (
                id.to_string(),
                entry.actor_email.clone().unwrap_or_default(),
            )
        }),
        action: entry.action.clone(),
        resource_type: entry.resource_type.clone(),
        resource_link,
        ip: entry.ip.clone().unwrap_or_default(),
        details: summarise(&entry.details),
        by_user: links.user.with(&[&actor]),
        by_action: links.action.with(&[&entry.action]),
        by_resource: links.resource.with(&[&entry.resource_type]),
        by_resource_id: links.resource_id.with(&[
            &entry.resource_type,
            resource_id.as_deref().unwrap_or_default(),
        ]),
        resource_id,
    }
}

pub async fn show(
    state: web::Data<AppState>,
    member: Member<can::ViewAuditLog>,
    query: web::Query<FilterForm>,
) -> AppResult<HttpResponse> {
    let form = query.into_inner();
    let account_id = member.account_id();
    let base = format!("/accounts/{account_id}/audit");
    let checked = form.check();
    let (filter, cursor, errors) = match checked {
        Ok((filter, cursor)) => (Some(filter), cursor, FilterErrors::default()),
        Err(errors) => (None, None, *errors),
    };
    let search = filter.clone();
    let (people, page) = state
        .db(move |conn| {
            let people = query::people(conn, account_id)?;
            let Some(filter) = search else {
                return Ok((people, None));
            };
            Ok((
                people,
                Some(query::page(conn, account_id, &filter, cursor, PAGE_SIZE)?),
            ))
        })
        .await?;
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let (rows, newer_url, older_url) = match &page {
        Some(page) => {
            let links = CellLinks::new(&form, &base);
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
                        &base,
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
                .map(|(e, _)| form.url(&base, &[("cursor", &Cursor::encode(e.occurred_at, e.id))]));
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
    w::render(
        status,
        &AuditPage {
            layout: member.layout()?.section("audit"),
            account_id,
            export_url: form.url(&format!("{base}.csv"), &[]),
            clear_url: base,
            form,
            errors,
            people,
            actions: ACTIONS,
            resource_types: RESOURCE_TYPES,
            rows,
            filtered,
            newer_url,
            older_url,
        },
    )
}
