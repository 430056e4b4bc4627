//! Reading the audit log: one filtered page (keyset on (occurred_at, id),
//! no OFFSET, no count), the people who appear in an account's log, and
//! batches for the CSV export.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Timestamptz};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::filter::{Cursor, Filter};
use crate::db::schema::audit_entries as a;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct EntryRow {
    pub id: i64,
    pub occurred_at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// Adds the filter's conditions (account first) to a boxed query over
/// audit_entries, joined or not.
macro_rules! filtered {
    ($query:expr, $account_id:expr, $f:expr) => {{
        let f: &Filter = $f;
        let mut q = $query.filter(a::account_id.eq($account_id));
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
            q = q.filter(a::resource_id.eq(resource_id.clone()));
        }
        if let Some(action) = f.action {
            q = q.filter(a::action.eq(action));
        }
        q
    }};
}

/// `(occurred_at, id) < (t, id)` (or `>`): a row comparison, which
/// PostgreSQL turns into one index range condition.
fn beyond<QS>(c: &Cursor) -> Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>> {
    let op = if c.newer { ">" } else { "<" };
    Box::new(
        sql::<Bool>(&format!(
            "(audit_entries.occurred_at, audit_entries.id) {op} ("
        ))
        .bind::<Timestamptz, _>(c.occurred_at)
        .sql(", ")
        .bind::<BigInt, _>(c.id)
        .sql(")"),
    )
}

pub struct Page {
    /// Newest first, each with whether its resource still exists (so the
    /// page can link to it).
    pub entries: Vec<(EntryRow, bool)>,
    pub has_newer: bool,
    pub has_older: bool,
}

/// The resource an entry names still exists in the account: a Pod, or a
/// membership. Joined into the page query, which saves a round trip.
const POD_EXISTS: &str = "audit_entries.resource_type = 'pod' \
    AND pods.account_id = audit_entries.account_id AND pods.id::text = audit_entries.resource_id";
const MEMBER_EXISTS: &str = "audit_entries.resource_type = 'member' \
    AND memberships.account_id = audit_entries.account_id \
    AND memberships.user_id::text = audit_entries.resource_id";

/// One page of `size` entries, newest first, starting at `cursor`.
pub fn page(
    conn: &mut PgConnection,
    account_id: Uuid,
    f: &Filter,
    cursor: Option<Cursor>,
    size: i64,
) -> QueryResult<Page> {
    use crate::db::schema::{memberships, pods};
    let joined = a::table
        .left_join(pods::table.on(sql::<Bool>(POD_EXISTS)))
        .left_join(memberships::table.on(sql::<Bool>(MEMBER_EXISTS)))
        .into_boxed();
    let mut q = filtered!(joined, account_id, f);
    if let Some(c) = &cursor {
        q = q.filter(beyond(c));
    }
    let newer = cursor.is_some_and(|c| c.newer);
    q = if newer {
        q.order((a::occurred_at.asc(), a::id.asc()))
    } else {
        q.order((a::occurred_at.desc(), a::id.desc()))
    };
    let mut entries: Vec<(EntryRow, bool)> = q
        .limit(size + 1)
        .select((
            EntryRow::as_select(),
            sql::<Bool>("(pods.id IS NOT NULL OR memberships.user_id IS NOT NULL)"),
        ))
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
    account_id: Uuid,
    f: &Filter,
    after: Option<Cursor>,
    size: i64,
) -> QueryResult<Vec<EntryRow>> {
    let mut q = filtered!(a::table.into_boxed(), account_id, f);
    if let Some(c) = &after {
        q = q.filter(beyond(c));
    }
    q.order((a::occurred_at.desc(), a::id.desc()))
        .limit(size)
        .select(EntryRow::as_select())
        .load(conn)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct Person {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
}

/// Everyone with entries in this account, former members included. A
/// loose index scan (one index probe per person) on
/// audit_entries_actor_idx, so it stays fast however long the log is.
pub fn people(conn: &mut PgConnection, account_id: Uuid) -> QueryResult<Vec<Person>> {
    diesel::sql_query(
        "WITH RECURSIVE actors(id) AS (
             (SELECT actor_id FROM audit_entries
               WHERE account_id = $1 AND actor_id IS NOT NULL
               ORDER BY actor_id LIMIT 1)
           UNION ALL
             SELECT (SELECT e.actor_id FROM audit_entries e
                      WHERE e.account_id = $1 AND e.actor_id > actors.id
                      ORDER BY e.actor_id LIMIT 1)
               FROM actors WHERE actors.id IS NOT NULL
         )
         SELECT u.id, u.email FROM actors JOIN users u ON u.id = actors.id
         ORDER BY lower(u.email)",
    )
    .bind::<diesel::sql_types::Uuid, _>(account_id)
    .load(conn)
}
