//! Sign-in sessions as stored: only a SHA-256 of the session key is kept,
//! so a leaked table does not hand out sessions. The `user_id` column lets
//! every session of a user be ended at once. `web::session_store` loads
//! and saves them for requests.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::accounts::models::{Account, Principal, User, principal, with_memberships};
use crate::audit::{Action, Origin, PersonalChange};
use crate::authz::Role;
use crate::db::schema::{sessions, users};
use crate::ids::{SessionId, UserId};

/// A session ends this long after it began, whatever happens.
pub const ABSOLUTE_LIFETIME: Duration = Duration::hours(12);
/// The idle deadline is pushed back at most this often, not on every request.
const EXTEND_GRANULARITY: Duration = Duration::minutes(1);

/// A live session: its state and, when signed in, its user and their
/// memberships.
pub struct Loaded {
    pub id: SessionId,
    pub state: serde_json::Value,
    pub principal: Option<Principal>,
}

type Row = (
    SessionId,
    serde_json::Value,
    OffsetDateTime,
    Option<User>,
    Option<Account>,
    Option<Role>,
    Option<OffsetDateTime>,
);

/// The live session with key hash `hash`, its user and memberships in the
/// same round trip; rolls its idle deadline (at most once a minute), and
/// with it when and from where it was last seen.
pub fn load(
    conn: &mut PgConnection,
    hash: &[u8],
    now: OffsetDateTime,
    idle: Duration,
    origin: &Origin,
) -> QueryResult<Option<Loaded>> {
    let rows: Vec<Row> = with_memberships!(
        sessions::table
            .left_join(users::table.on(users::id.nullable().eq(sessions::user_id)))
            .filter(sessions::key_hash.eq(hash))
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::absolute_expires_at.gt(now)),
        sessions::user_id,
        (
            sessions::id,
            sessions::state,
            sessions::expires_at,
            Option::<User>::as_select()
        )
    )
    .load(conn)?;
    let Some((id, state, expires_at, ..)) = rows.first().cloned() else {
        return Ok(None);
    };
    if expires_at - now < idle - EXTEND_GRANULARITY {
        diesel::update(sessions::table.find(hash))
            .set((
                sessions::expires_at.eq(now + idle),
                sessions::last_seen_at.eq(now),
                seen_from(origin),
            ))
            .execute(conn)?;
    }
    let principal = principal(
        rows.into_iter()
            .map(|(_, _, _, user, account, role, seen)| (user, account, role, seen)),
    );
    Ok(Some(Loaded {
        id,
        state,
        principal,
    }))
}

/// The address and device a session was last used from.
#[allow(clippy::type_complexity)]
fn seen_from(
    origin: &Origin,
) -> (
    diesel::dsl::Eq<sessions::ip, Option<String>>,
    diesel::dsl::Eq<sessions::user_agent, Option<String>>,
) {
    (
        sessions::ip.eq(origin.ip.clone()),
        sessions::user_agent.eq(origin.user_agent.clone()),
    )
}

pub fn insert(
    conn: &mut PgConnection,
    hash: &[u8],
    user_id: Option<UserId>,
    state: serde_json::Value,
    now: OffsetDateTime,
    idle: Duration,
    origin: &Origin,
) -> QueryResult<usize> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(hash),
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + idle),
            sessions::absolute_expires_at.eq(now + ABSOLUTE_LIFETIME),
            sessions::last_seen_at.eq(now),
            seen_from(origin),
        ))
        .execute(conn)
}

/// Saves a live session's state; 0 when it expired meanwhile.
pub fn update(
    conn: &mut PgConnection,
    hash: &[u8],
    user_id: Option<UserId>,
    state: serde_json::Value,
    now: OffsetDateTime,
    idle: Duration,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .find(hash)
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::absolute_expires_at.gt(now)),
    )
    .set((
        sessions::state.eq(state),
        sessions::user_id.eq(user_id),
        sessions::expires_at.eq(now + idle),
        sessions::last_seen_at.eq(now),
    ))
    .execute(conn)
}

pub fn extend(
    conn: &mut PgConnection,
    hash: &[u8],
    now: OffsetDateTime,
    idle: Duration,
) -> QueryResult<usize> {
    diesel::update(sessions::table.find(hash))
        .set(sessions::expires_at.eq(now + idle))
        .execute(conn)
}

/// A signed-in session as its owner sees it.
#[derive(Debug, Clone, Queryable)]
pub struct SessionRow {
    pub id: SessionId,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

const SESSION_COLUMNS: (
    sessions::id,
    sessions::ip,
    sessions::user_agent,
    sessions::created_at,
    sessions::last_seen_at,
) = (
    sessions::id,
    sessions::ip,
    sessions::user_agent,
    sessions::created_at,
    sessions::last_seen_at,
);

/// The user's live sessions, most recently used first.
pub fn of_user(
    conn: &mut PgConnection,
    user_id: UserId,
    now: OffsetDateTime,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::absolute_expires_at.gt(now))
        .order((sessions::last_seen_at.desc(), sessions::id.asc()))
        .select(SESSION_COLUMNS)
        .load(conn)
}

/// Ends one of the person's sessions (audited; another person's is not
/// found): that browser is signed out on its next request.
pub fn end(conn: &mut PgConnection, cx: &PersonalChange, id: SessionId) -> QueryResult<SessionRow> {
    conn.transaction(|conn| {
        let ended: SessionRow = diesel::delete(
            sessions::table
                .filter(sessions::user_id.eq(cx.user))
                .filter(sessions::id.eq(id)),
        )
        .returning(SESSION_COLUMNS)
        .get_result(conn)?;
        cx.record(
            conn,
            Action::UserSessionsEnded {
                user: cx.user,
                count: 1,
                device: ended
                    .user_agent
                    .as_deref()
                    .map(crate::format::short_user_agent),
                ip: ended.ip.clone(),
            },
        )?;
        Ok(ended)
    })
}

/// Ends every session of the person but `keep` (audited); how many ended.
pub fn end_others(
    conn: &mut PgConnection,
    cx: &PersonalChange,
    keep: Option<SessionId>,
) -> QueryResult<i64> {
    conn.transaction(|conn| {
        let count = delete_others(conn, cx.user, keep)?;
        cx.record(
            conn,
            Action::UserSessionsEnded {
                user: cx.user,
                count,
                device: None,
                ip: None,
            },
        )?;
        Ok(count)
    })
}

/// Deletes every session of `user` but `keep` (inside a change that
/// records it).
pub fn delete_others(
    conn: &mut PgConnection,
    user: UserId,
    keep: Option<SessionId>,
) -> QueryResult<i64> {
    let theirs = sessions::table.filter(sessions::user_id.eq(user));
    let count = match keep {
        Some(keep) => diesel::delete(theirs.filter(sessions::id.ne(keep))).execute(conn)?,
        None => diesel::delete(theirs).execute(conn)?,
    };
    Ok(count as i64)
}

pub fn delete(conn: &mut PgConnection, hash: &[u8]) -> QueryResult<usize> {
    diesel::delete(sessions::table.find(hash)).execute(conn)
}

/// Removes expired sessions; run periodically.
pub fn delete_expired(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<usize> {
    diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::absolute_expires_at.le(now)),
        ),
    )
    .execute(conn)
}
