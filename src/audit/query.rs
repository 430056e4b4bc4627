//! Reading the audit log: one filtered page (keyset on (occurred_at, id),
//! no OFFSET, no count), the people who appear in an account's log, and
//! batches for the CSV export. Free-text search is one more filter.

use diesel::deserialize::{self, FromSql};
use diesel::expression::{ValidGrouping, is_aggregate};
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Jsonb, Text, Timestamptz};
use std::collections::HashMap;

use time::OffsetDateTime;

use crate::audit::ActionKind;
use crate::audit::filter::{Cursor, Filter};
use crate::audit::sentence::{Details, Part, Sentence, sentence};
use crate::db::schema::audit_entries as a;
use crate::ids::{AccountId, UserId};

/// An entry whole, as the page shows it and the CSV export writes it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct EntryRow {
    pub id: i64,
    pub occurred_at: OffsetDateTime,
    /// None for what belongs to no account (sign-ins, sign-outs).
    pub account_id: Option<AccountId>,
    pub actor_id: Option<UserId>,
    pub actor_email: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[diesel(deserialize_as = EntryDetails)]
    pub details: EntryDetails,
    /// The chain's links (docs/audit-integrity.md); none for entries
    /// written before the chain began.
    pub prev_hash: Option<Vec<u8>>,
    pub hash: Option<Vec<u8>>,
}

impl EntryRow {
    /// The entry's sentence ("Alice changed Bob's role from Dev to Admin").
    pub fn sentence(&self) -> Sentence {
        let actor = self.actor_name.as_deref().or(self.actor_email.as_deref());
        sentence_of(&self.action, actor, &self.details.fields)
    }
}

fn sentence_of(action: &str, actor: Option<&str>, details: &Details) -> Sentence {
    match ActionKind::parse(action) {
        Some(kind) => sentence(kind, actor, details),
        // Written by a later version of the console: say what is known.
        None => Sentence {
            parts: vec![
                Part::Name(actor.unwrap_or("Someone").to_string()),
                Part::Words(format!(": {action}")),
            ],
        },
    }
}

/// An entry's details: the JSON text as stored (shown raw, one click
/// away) and its fields for the sentence, read straight from jsonb's text
/// (no `serde_json::Value` is built: a page reads 50 of them).
#[derive(Debug, Clone, diesel::deserialize::FromSqlRow)]
pub struct EntryDetails {
    pub raw: String,
    pub fields: Details,
}

impl EntryDetails {
    /// Details from their JSON text (as an export writes them).
    pub fn from_text(raw: String) -> EntryDetails {
        EntryDetails {
            fields: Details::parse(raw.as_bytes()),
            raw,
        }
    }
}

impl FromSql<Jsonb, Pg> for EntryDetails {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        // jsonb's binary form is a version byte (1) and the JSON text.
        match value.as_bytes().split_first() {
            Some((1, json)) => Ok(EntryDetails {
                raw: std::str::from_utf8(json)?.to_string(),
                fields: Details::parse(json),
            }),
            _ => Err("unsupported jsonb format".into()),
        }
    }
}

/// What free-text search matches; the same expression as the trigram
/// index `audit_entries_search_idx` (migration 000007), so PostgreSQL can
/// use it.
const SEARCH_TEXT: &str = "(coalesce(audit_entries.actor_name, '') || ' ' || \
    coalesce(audit_entries.actor_email, '') || ' ' || \
    coalesce(audit_entries.resource_id, '') || ' ' || audit_entries.details::text)";

/// `term` as an ILIKE pattern matching it anywhere, its `%`, `_` and `\`
/// taken literally.
pub fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The filtered entries of one account, without order or limit.
fn filtered<'a>(account_id: AccountId, f: &'a Filter) -> a::BoxedQuery<'a, Pg> {
    let mut q = a::table.filter(a::account_id.eq(account_id)).into_boxed();
    if let Some(since) = f.since {
        q = q.filter(a::occurred_at.ge(since));
    }
    if let Some(until) = f.until {
        q = q.filter(a::occurred_at.lt(until));
    }
    if let Some(user) = f.user {
        q = q.filter(a::actor_id.eq(user));
    }
    if let Some(resource) = f.resource {
        q = q.filter(a::resource_type.eq(resource));
    }
    if let Some(resource_id) = &f.resource_id {
        q = q.filter(a::resource_id.eq(resource_id));
    }
    if let Some(action) = f.action {
        q = q.filter(a::action.eq(action.name()));
    }
    if let Some(term) = &f.search {
        q = q.filter(Matches(contains_pattern(term)));
    }
    q
}

/// `(occurred_at, id) < (t, id)` (or `>`): a row comparison, which
/// PostgreSQL turns into one index range condition.
///
/// The SQL fragments of this module are types of their own rather than
/// `diesel::dsl::sql` literals: diesel never caches a statement that
/// contains a literal, so PostgreSQL would parse and plan the page's
/// statements on every request (as long as running them, measured).
#[derive(Debug, Clone, Copy)]
struct Beyond(Cursor);

impl Expression for Beyond {
    type SqlType = Bool;
}

impl QueryFragment<Pg> for Beyond {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(if self.0.newer {
            "(audit_entries.occurred_at, audit_entries.id) > ("
        } else {
            "(audit_entries.occurred_at, audit_entries.id) < ("
        });
        out.push_bind_param::<Timestamptz, _>(&self.0.occurred_at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.0.id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The entry's search text contains the pattern (case-insensitively).
#[derive(Debug, Clone)]
struct Matches(String);

impl Expression for Matches {
    type SqlType = Bool;
}

impl QueryFragment<Pg> for Matches {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(SEARCH_TEXT);
        out.push_sql(" ILIKE ");
        out.push_bind_param::<Text, _>(&self.0)?;
        Ok(())
    }
}

/// The expressions above are plain SQL over `audit_entries`: they can
/// stand wherever its columns can, and are never aggregates.
macro_rules! audit_entries_expression {
    ($($t:ty),*) => {$(
        impl AppearsOnTable<a::table> for $t {}
        impl SelectableExpression<a::table> for $t {}
        impl ValidGrouping<()> for $t {
            type IsAggregate = is_aggregate::Never;
        }
        impl QueryId for $t {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }
    )*};
}
audit_entries_expression!(Beyond, Matches);

/// An entry of a page, with what the page shows beside it today.
pub struct Listed {
    pub entry: EntryRow,
    /// The resource's current name, if it still exists (a Pod, a member):
    /// the page links to it and shows a rename.
    pub resource_now: Option<String>,
    /// The actor's current display name; none for a deleted user (and
    /// for the console itself, which has no user).
    pub actor_now: Option<String>,
}

pub struct Page {
    /// Newest first.
    pub entries: Vec<Listed>,
    pub has_newer: bool,
    pub has_older: bool,
}

/// Runs `load`, planned for its search term when the filter has one.
///
/// The pool's connections keep one generic plan per statement
/// (`db::SESSION_SETTINGS`), which suits every other query; a search's
/// best plan depends on its term: a rare one is found through the trigram
/// index, a common one by walking the account's newest entries and
/// checking each. So a search is planned for its values.
fn planned_for_search<T>(
    conn: &mut PgConnection,
    f: &Filter,
    load: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    if f.search.is_none() {
        return load(conn);
    }
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL plan_cache_mode = force_custom_plan").execute(conn)?;
        load(conn)
    })
}

/// One page of `size` entries, newest first, starting at `cursor`.
pub fn page(
    conn: &mut PgConnection,
    account_id: AccountId,
    f: &Filter,
    cursor: Option<Cursor>,
    size: i64,
) -> QueryResult<Page> {
    let mut q = filtered(account_id, f);
    if let Some(c) = &cursor {
        q = q.filter(Beyond(*c));
    }
    let newer = cursor.is_some_and(|c| c.newer);
    q = if newer {
        q.order((a::occurred_at.asc(), a::id.asc()))
    } else {
        q.order((a::occurred_at.desc(), a::id.desc()))
    };
    let select = q.select(EntryRow::as_select());
    let mut rows: Vec<EntryRow> = planned_for_search(conn, f, |conn| {
        crate::db::limited(select, size + 1).load(conn)
    })?;
    let more = rows.len() as i64 > size;
    rows.truncate(size as usize);
    let now = NamesNow::of(conn, account_id, &rows)?;
    let mut entries: Vec<Listed> = rows
        .into_iter()
        .map(|entry| Listed {
            resource_now: now.resource(&entry),
            actor_now: entry.actor_id.and_then(|id| now.person(id)),
            entry,
        })
        .collect();
    if newer {
        entries.reverse();
    }
    Ok(Page {
        entries,
        // Coming from a page means there is one on that side.
        has_newer: if newer { more } else { cursor.is_some() },
        has_older: if newer { true } else { more },
    })
}

/// Today's names of the people and Pods a page's entries name: the
/// actors, and the members and Pods that are still in the account.
///
/// One statement for the whole page, by primary keys, after the page is
/// read: a subquery per row in the page's own statement cost several times
/// the page's SQL (docs/benchmarks.md, "The current names").
struct NamesNow {
    /// A user's display name (not a deleted user's), and whether they are
    /// a member of the account.
    people: HashMap<uuid::Uuid, (String, bool)>,
    pods: HashMap<uuid::Uuid, String>,
}

impl NamesNow {
    fn of(conn: &mut PgConnection, account_id: AccountId, rows: &[EntryRow]) -> QueryResult<Self> {
        use crate::db::schema::{memberships as m, pods, users};
        let resource = |kind: &'static str| {
            rows.iter()
                .filter(move |r| r.resource_type == kind)
                .filter_map(|r| r.resource_id.as_deref()?.parse::<uuid::Uuid>().ok())
        };
        let mut people: Vec<uuid::Uuid> = rows
            .iter()
            .filter_map(|r| r.actor_id.map(|id| id.as_uuid()))
            .collect();
        people.extend(resource("member"));
        people.sort_unstable();
        people.dedup();
        let mut pod_ids: Vec<uuid::Uuid> = resource("pod").collect();
        pod_ids.sort_unstable();
        pod_ids.dedup();
        let mut names = NamesNow {
            people: HashMap::new(),
            pods: HashMap::new(),
        };
        if people.is_empty() && pod_ids.is_empty() {
            return Ok(names);
        }
        let found: Vec<(uuid::Uuid, String, bool, bool)> = users::table
            .left_join(m::table.on(m::user_id.eq(users::id).and(m::account_id.eq(account_id))))
            .filter(users::id.eq_any(people))
            // A deleted user's tombstone has no name today: entries keep theirs.
            .filter(users::deleted_at.is_null())
            .select((
                users::id,
                users::display_name,
                m::user_id.nullable().is_not_null(),
                false.into_sql::<Bool>(),
            ))
            .union_all(
                pods::table
                    .filter(pods::account_id.eq(account_id))
                    .filter(pods::id.eq_any(pod_ids))
                    .select((
                        pods::id,
                        pods::name,
                        true.into_sql::<Bool>(),
                        true.into_sql::<Bool>(),
                    )),
            )
            .load(conn)?;
        for (id, name, member, pod) in found {
            if pod {
                names.pods.insert(id, name);
            } else {
                names.people.insert(id, (name, member));
            }
        }
        Ok(names)
    }

    fn person(&self, id: UserId) -> Option<String> {
        self.people.get(&id.as_uuid()).map(|(name, _)| name.clone())
    }

    /// The current name of the Pod or member the entry names, if it is
    /// still in the account.
    fn resource(&self, entry: &EntryRow) -> Option<String> {
        let id = entry.resource_id.as_deref()?.parse::<uuid::Uuid>().ok()?;
        match entry.resource_type.as_str() {
            "pod" => self.pods.get(&id).cloned(),
            "member" => match self.people.get(&id) {
                Some((name, true)) => Some(name.clone()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Up to `size` entries strictly older than `after` (for the export).
pub fn batch(
    conn: &mut PgConnection,
    account_id: AccountId,
    f: &Filter,
    after: Option<Cursor>,
    size: i64,
) -> QueryResult<Vec<EntryRow>> {
    let mut q = filtered(account_id, f);
    if let Some(c) = &after {
        q = q.filter(Beyond(*c));
    }
    let q = q
        .order((a::occurred_at.desc(), a::id.desc()))
        .select(EntryRow::as_select());
    planned_for_search(conn, f, |conn| crate::db::limited(q, size).load(conn))
}

#[derive(Queryable, Debug, Clone)]
pub struct Person {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// They deleted their account (their email is a tombstone's).
    pub deleted: bool,
}

/// Everyone with entries in this account, former members included, from
/// `audit_actors` (kept by a trigger on the log, so it stays a few rows
/// however long the log is).
pub fn people(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Vec<Person>> {
    use crate::accounts::models::lower;
    use crate::db::schema::{audit_actors, users};
    audit_actors::table
        .inner_join(users::table.on(users::id.eq(audit_actors::user_id)))
        .filter(audit_actors::account_id.eq(account_id))
        .order(lower(users::email))
        .select((
            users::id,
            users::email,
            users::display_name,
            users::deleted_at.is_not_null(),
        ))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_terms_match_their_wildcards_literally() {
        assert_eq!(contains_pattern("bob"), "%bob%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
