//! Sign-in throttling, per account (email) and per client IP, kept in
//! PostgreSQL so it survives restarts and is shared by every console
//! process. Unknown emails are throttled exactly like known ones.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::audit::Origin;
use crate::db::schema::sign_in_throttles as t;

pub const WINDOW: Duration = Duration::minutes(15);
pub const EMAIL_LIMIT: i32 = 5;
pub const IP_LIMIT: i32 = 50;
const MAX_LOCK: Duration = Duration::minutes(15);

pub fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// The keys an attempt counts against: its email and its address.
pub fn keys(email: &str, origin: &Origin) -> [String; 2] {
    [
        email_key(email),
        ip_key(origin.ip.as_deref().unwrap_or("unknown")),
    ]
}

/// Seconds to wait before the next attempt, if any key is locked.
pub fn retry_after(
    conn: &mut PgConnection,
    keys: &[String],
    now: OffsetDateTime,
) -> QueryResult<Option<u64>> {
    let until: Option<Option<OffsetDateTime>> = t::table
        .filter(t::key.eq_any(keys))
        .filter(t::locked_until.gt(now))
        .select(t::locked_until)
        .order(t::locked_until.desc())
        .first(conn)
        .optional()?;
    Ok(until
        .flatten()
        .map(|until| (until - now).whole_seconds().max(1) as u64))
}

/// Counts a failure against `key`; past `limit` failures in the window the
/// key is locked, for longer with each further failure (up to 15 minutes).
pub fn record_failure(
    conn: &mut PgConnection,
    key: &str,
    limit: i32,
    now: OffsetDateTime,
) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values((t::key.eq(key), t::failures.eq(0), t::window_start.eq(now)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let (failures, window_start): (i32, OffsetDateTime) = t::table
        .find(key)
        .select((t::failures, t::window_start))
        .for_update()
        .first(conn)?;
    let (failures, window_start) = if now - window_start > WINDOW {
        (1, now)
    } else {
        (failures + 1, window_start)
    };
    let locked_until = (failures >= limit).then(|| {
        let doublings = (failures - limit).min(5) as u32;
        now + (Duration::seconds(30) * 2_i32.pow(doublings)).min(MAX_LOCK)
    });
    diesel::update(t::table.find(key))
        .set((
            t::failures.eq(failures),
            t::window_start.eq(window_start),
            t::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(())
}

/// A successful sign-in forgives the account's failures.
pub fn clear(conn: &mut PgConnection, key: &str) -> QueryResult<()> {
    diesel::delete(t::table.find(key)).execute(conn)?;
    Ok(())
}
