//! Reading the audit log: one filtered page (keyset on (occurred_at, id),
//! no OFFSET, no count), the people who appear in an account's log, and
//! batches for the CSV export.

use std::collections::BTreeMap;

use diesel::deserialize::{self, FromSql};
use diesel::expression::{ValidGrouping, is_aggregate};
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Jsonb, Timestamptz};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::audit::filter::{Cursor, Filter};
use crate::db::schema::audit_entries as a;
use crate::ids::{AccountId, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct EntryRow {
    pub id: i64,
    pub occurred_at: OffsetDateTime,
    pub actor_id: Option<UserId>,
    pub actor_email: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// An entry as the page shows it: no user agent, details summarised.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct PageRow {
    pub id: i64,
    pub occurred_at: OffsetDateTime,
    pub actor_id: Option<UserId>,
    pub actor_email: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    #[diesel(deserialize_as = Summary)]
    pub details: String,
}

/// Entry details in short ("new_role: admin, old_role: basic", keys in
/// order, at most 160 characters), read straight from jsonb's text: a
/// page shows 50 of them, and building a `serde_json::Value` for each was
/// a tenth of the page's CPU time.
#[derive(diesel::deserialize::FromSqlRow)]
pub struct Summary(String);

impl From<Summary> for String {
    fn from(s: Summary) -> String {
        s.0
    }
}

impl FromSql<Jsonb, Pg> for Summary {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        // jsonb's binary form is a version byte (1) and the JSON text.
        match value.as_bytes().split_first() {
            Some((1, json)) => Ok(Summary(summarise(json)?)),
            _ => Err("unsupported jsonb format".into()),
        }
    }
}

const SUMMARY_CHARS: usize = 160;

/// "key: value, ..." of a JSON object (strings unquoted); anything but an
/// object summarises to nothing.
fn summarise(json: &[u8]) -> serde_json::Result<String> {
    let Ok(map) = serde_json::from_slice::<BTreeMap<String, &RawValue>>(json) else {
        return Ok(String::new());
    };
    let mut text = String::new();
    for (key, value) in map {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&key);
        text.push_str(": ");
        match value.get().starts_with('"') {
            true => text.push_str(&serde_json::from_str::<String>(value.get())?),
            false => text.push_str(value.get()),
        }
    }
    if let Some((cut, _)) = text.char_indices().nth(SUMMARY_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    Ok(text)
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
    q
}

/// `(occurred_at, id) < (t, id)` (or `>`): a row comparison, which
/// PostgreSQL turns into one index range condition.
///
/// The two SQL fragments of this module are types of their own rather
/// than `diesel::dsl::sql` literals: diesel never caches a statement that
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

pub struct Page {
    /// Newest first, each with whether its resource still exists (so the
    /// page can link to it).
    pub entries: Vec<(PageRow, bool)>,
    pub has_newer: bool,
    pub has_older: bool,
}

/// The resource an entry names still exists in the account (a Pod, or a
/// membership), so the page can link to it. A subquery in the select list
/// runs only for the rows returned (after the LIMIT), through primary
/// keys; the CASE keeps ids that are not UUIDs from being cast.
const RESOURCE_EXISTS: &str = "CASE \
    WHEN audit_entries.resource_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN false \
    WHEN audit_entries.resource_type = 'pod' THEN EXISTS (SELECT 1 FROM pods \
        WHERE pods.id = audit_entries.resource_id::uuid AND pods.account_id = audit_entries.account_id) \
    WHEN audit_entries.resource_type = 'member' THEN EXISTS (SELECT 1 FROM memberships \
        WHERE memberships.account_id = audit_entries.account_id \
          AND memberships.user_id = audit_entries.resource_id::uuid) \
    ELSE false END";

#[derive(Debug, Clone, Copy)]
struct ResourceExists;

impl Expression for ResourceExists {
    type SqlType = Bool;
}

impl QueryFragment<Pg> for ResourceExists {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(RESOURCE_EXISTS);
        Ok(())
    }
}

/// Both expressions above are plain SQL over `audit_entries`: they can
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
audit_entries_expression!(Beyond, ResourceExists);

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
    let mut entries: Vec<(PageRow, bool)> =
        crate::db::limited(q.select((PageRow::as_select(), ResourceExists)), size + 1)
            .load(conn)?;
    let more = entries.len() as i64 > size;
    entries.truncate(size as usize);
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
    crate::db::limited(q, size).load(conn)
}

#[derive(Queryable, Debug, Clone)]
pub struct Person {
    pub id: UserId,
    pub email: String,
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
        .select((users::id, users::email))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::summarise;

    #[test]
    fn details_are_summarised_in_key_order_and_cut() {
        let s = |json: &str| summarise(json.as_bytes()).unwrap();
        assert_eq!(
            s(r#"{"old_role": "basic", "new_role": "admin"}"#),
            "new_role: admin, old_role: basic"
        );
        assert_eq!(
            s(r#"{"cents": 1250, "paid": true, "note": "a \"b\""}"#),
            "cents: 1250, note: a \"b\", paid: true"
        );
        assert_eq!(s("[1, 2]"), "");
        assert_eq!(s("{}"), "");
        let long = s(&format!(r#"{{"note": "{}"}}"#, "é".repeat(300)));
        assert_eq!(long.chars().count(), 161);
        assert!(long.starts_with("note: éé") && long.ends_with('…'));
    }
}
