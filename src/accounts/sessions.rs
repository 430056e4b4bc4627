//! Sign-in sessions as stored: only a SHA-256 of the session key is kept,
//! so a leaked table does not hand out sessions. The `user_id` column lets
//! every session of a user be ended at once. `web::session_store` adapts
//! these to actix-session.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::accounts::models::{Account, Principal, User, principal, with_memberships};
use crate::authz::Role;
use crate::db::schema::{sessions, users};
use crate::ids::UserId;

/// A session ends this long after it began, whatever happens.
pub const ABSOLUTE_LIFETIME: Duration = Duration::hours(12);
/// The idle deadline is pushed back at most this often, not on every request.
const EXTEND_GRANULARITY: Duration = Duration::minutes(1);

/// A live session: its state and, when signed in, its user and their
/// memberships.
pub struct Loaded {
    pub state: serde_json::Value,
    pub principal: Option<Principal>,
}

type Row = (
    serde_json::Value,
    OffsetDateTime,
    Option<User>,
    Option<Account>,
    Option<Role>,
);

/// The live session with key hash `hash`, its user and memberships in the
/// same round trip; rolls its idle deadline (at most once a minute).
pub fn load(
    conn: &mut PgConnection,
    hash: &[u8],
    now: OffsetDateTime,
    idle: Duration,
) -> QueryResult<Option<Loaded>> {
    let rows: Vec<Row> = with_memberships!(
        sessions::table
            .left_join(users::table.on(users::id.nullable().eq(sessions::user_id)))
            .filter(sessions::key_hash.eq(hash))
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::absolute_expires_at.gt(now)),
        sessions::user_id,
        (
            sessions::state,
            sessions::expires_at,
            Option::<User>::as_select()
        )
    )
    .load(conn)?;
    let Some((state, expires_at, ..)) = rows.first().cloned() else {
        return Ok(None);
    };
    if expires_at - now < idle - EXTEND_GRANULARITY {
        diesel::update(sessions::table.find(hash))
            .set(sessions::expires_at.eq(now + idle))
            .execute(conn)?;
    }
    let principal = principal(
        rows.into_iter()
            .map(|(_, _, user, account, role)| (user, account, role)),
    );
    Ok(Some(Loaded { state, principal }))
}

pub fn insert(
    conn: &mut PgConnection,
    hash: &[u8],
    user_id: Option<UserId>,
    state: serde_json::Value,
    now: OffsetDateTime,
    idle: Duration,
) -> QueryResult<usize> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(hash),
            sessions::user_id.eq(user_id),
            sessions::state.eq(state),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + idle),
            sessions::absolute_expires_at.eq(now + ABSOLUTE_LIFETIME),
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
