//! GET /accounts/{id}/audit: the Audit logs page (Admin). Newest first, 50
//! a page, filtered by a GET form so every view is a shareable URL.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::PgConnection;

use crate::AppState;
use crate::audit::filter::{Cursor, FilterErrors, FilterForm, Link};
use crate::audit::query::{self, EntryRow, Listed, Person};
use crate::audit::sentence::{Part, Sentence};
use crate::audit::{ActionKind, RESOURCE_TYPES};
use crate::authz::can;
use crate::format;
use crate::ids::AccountId;
use crate::web::auth::Visit;
use crate::web::error::AppResult;
use crate::web::layout::Layout;

pub const PAGE_SIZE: i64 = 50;

/// One entry of the page and what the page computes for it.
struct Row<'a> {
    entry: &'a EntryRow,
    sentence: Sentence,
    /// "3 h ago", with the exact time beside it for hover and screen readers.
    ago: String,
    exact: String,
    iso: String,
    /// "Chrome on macOS".
    agent: Option<String>,
    /// Where the resource lives, if it still exists.
    resource_link: Option<String>,
    /// Links that add this row's value to the filter.
    by_user: String,
    by_action: String,
    by_resource: String,
    by_resource_id: String,
}

/// The action select's groups, by area.
struct ActionGroup {
    label: &'static str,
    actions: Vec<&'static str>,
}

fn action_groups() -> Vec<ActionGroup> {
    let mut groups: Vec<ActionGroup> = Vec::new();
    for kind in ActionKind::account_log() {
        let label = match kind.resource_type() {
            "member" => "Members",
            "invite" => "Invites",
            "pod" => "Pods",
            "billing" => "Billing",
            "spend" => "Spend controls",
            "account" => "Settings",
            "api_key" => "API keys",
            "audit" => "Audit log",
            _ => "Sign-up and sign-in",
        };
        match groups.iter_mut().find(|g| g.label == label) {
            Some(group) => group.actions.push(kind.name()),
            None => groups.push(ActionGroup {
                label,
                actions: vec![kind.name()],
            }),
        }
    }
    groups
}

#[derive(Template)]
#[template(path = "audit/page.html")]
struct AuditPage<'a> {
    layout: Layout,
    account_id: AccountId,
    form: FilterForm,
    errors: FilterErrors,
    people: Vec<Person>,
    action_groups: Vec<ActionGroup>,
    resource_types: &'static [&'static str],
    rows: Vec<Row<'a>>,
    /// How many filters are set (the folded form's "Filters (n)").
    filters_set: usize,
    clear_url: String,
    export_url: String,
    newer_url: Option<String>,
    older_url: Option<String>,
    /// AUDIT_RETENTION_DAYS.
    retention_days: u32,
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

/// Adds `words` after the first `name` in the sentence.
fn note_after(sentence: &mut Sentence, name: &str, words: String) {
    if let Some(at) = sentence
        .parts
        .iter()
        .position(|p| matches!(p, Part::Name(n) if n == name))
    {
        sentence.parts.insert(at + 1, Part::Words(words));
    }
}

/// Adds " (now …)" after a name that has changed since the entry.
fn mark_renamed(sentence: &mut Sentence, then: Option<&str>, now: Option<&str>) {
    if let (Some(then), Some(now)) = (then, now)
        && then != now
    {
        note_after(sentence, then, format!(" (now {now})"));
    }
}

fn row<'a>(
    listed: &'a Listed,
    account_id: AccountId,
    links: &CellLinks,
    now: time::OffsetDateTime,
) -> Row<'a> {
    let entry = &listed.entry;
    let resource_id = entry.resource_id.as_deref().unwrap_or_default();
    let resource_link = (listed.resource_now.is_some() && !resource_id.is_empty()).then(|| {
        match entry.resource_type.as_str() {
            "pod" => format!("/accounts/{account_id}/pods/{resource_id}/connect"),
            _ => format!("/accounts/{account_id}/members"),
        }
    });
    let mut sentence = entry.sentence();
    if let (Some(_), None, Some(then)) = (entry.actor_id, &listed.actor_now, &entry.actor_name) {
        // The actor deleted their account: the entry keeps their name as it was.
        note_after(&mut sentence, then, " (deleted user)".into());
    } else {
        mark_renamed(
            &mut sentence,
            entry.actor_name.as_deref(),
            listed.actor_now.as_deref(),
        );
    }
    mark_renamed(
        &mut sentence,
        entry.details.fields.name.as_deref(),
        listed.resource_now.as_deref(),
    );
    let actor = entry.actor_id.map(|id| id.to_string()).unwrap_or_default();
    Row {
        entry,
        sentence,
        ago: format::time_ago(&entry.occurred_at, now),
        exact: format::date_time_seconds(&entry.occurred_at),
        iso: format::rfc3339(&entry.occurred_at),
        agent: entry.user_agent.as_deref().map(format::short_user_agent),
        resource_link,
        by_user: links.user.with(&[&actor]),
        by_action: links.action.with(&[&entry.action]),
        by_resource: links.resource.with(&[&entry.resource_type]),
        by_resource_id: links.resource_id.with(&[&entry.resource_type, resource_id]),
    }
}

pub async fn show(
    state: web::Data<AppState>,
    visit: Visit<can::ViewAuditLog>,
    query: web::Query<FilterForm>,
) -> AppResult<HttpResponse> {
    let form = query.into_inner();
    let now = state.clock.now();
    let retention_days = state.audit_retention_days;
    // The page is rendered on the thread that read its rows, so they are
    // neither moved nor freed across threads (the connection stays taken
    // for the tenth of a millisecond that takes).
    let (_, (status, html)) = visit
        .db(move |conn, access| {
            let layout = access.layout().section("audit");
            render(conn, layout, access.account_id(), form, now, retention_days)
        })
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
    now: time::OffsetDateTime,
    retention_days: u32,
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
                .map(|listed| row(listed, account_id, &links, now))
                .collect();
            let newer = page.entries.first().filter(|_| page.has_newer).map(
                |Listed { entry: e, .. }| {
                    form.url(
                        "",
                        &[
                            ("cursor", &Cursor::encode(e.occurred_at, e.id)),
                            ("dir", "newer"),
                        ],
                    )
                },
            );
            let older = page.entries.last().filter(|_| page.has_older).map(
                |Listed { entry: e, .. }| {
                    form.url("", &[("cursor", &Cursor::encode(e.occurred_at, e.id))])
                },
            );
            (rows, newer, older)
        }
        None => (Vec::new(), None, None),
    };
    let filters_set = filter.map_or(0, |f| {
        [
            f.since.is_some() || f.until.is_some(),
            f.user.is_some(),
            f.resource.is_some() || f.resource_id.is_some(),
            f.action.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count()
    });
    let page = AuditPage {
        layout,
        account_id,
        export_url: form.url(&format!("{base}.csv"), &[]),
        clear_url: base,
        form,
        errors,
        people,
        action_groups: action_groups(),
        resource_types: RESOURCE_TYPES,
        rows,
        filters_set,
        newer_url,
        older_url,
        retention_days,
    };
    // Fifty entries with their disclosures come to about 90 KB.
    let html = crate::web::html(&page, 128 * 1024)?;
    Ok((status, html))
}
