//! Security notices mailed to a person when something about their
//! account changes (password, email, two-factor) or when they sign in
//! from a device not seen before. Each is queued in the transaction of
//! the change, so it is sent if and only if the change happened.
//!
//! "Seen before": a device is the browser family and system as
//! `format::short_user_agent` names it ("Firefox on Linux") plus the
//! client IP. A sign-in from a pair this user has signed in (or up) from
//! before is not news; any other pair is, unless the user has no known
//! device at all (the first sign-in after this feature arrived), which
//! only starts the list.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::Origin;
use crate::db::schema::known_devices as kd;
use crate::format;
use crate::ids::UserId;
use crate::mail::{Outbox, letters::Notice};

/// Where the person goes if it was not them.
pub fn forgot_password_link(public_url: &str) -> String {
    format!("{public_url}/forgot-password")
}

/// "on 2026-11-29 05:40 UTC from 203.0.113.9 (Firefox on Linux)".
fn when_and_where(origin: &Origin, now: OffsetDateTime) -> String {
    let mut said = format!("This happened on {}", format::date_time(&now));
    if let Some(ip) = &origin.ip {
        said.push_str(&format!(" from the address {ip}"));
    }
    if let Some(agent) = &origin.user_agent {
        said.push_str(&format!(" ({})", format::short_user_agent(agent)));
    }
    said.push('.');
    said
}

/// Where and when the change was made, and the outbox to write to.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub origin: &'a Origin,
    pub now: OffsetDateTime,
    pub outbox: &'a Outbox,
}

/// Queues a notice to `to` (addressed to `name`).
pub fn queue(
    conn: &mut PgConnection,
    to: &str,
    name: &str,
    headline: &str,
    mut lines: Vec<String>,
    cx: Context<'_>,
) -> QueryResult<()> {
    lines.push(when_and_where(cx.origin, cx.now));
    let letter = Notice {
        name,
        headline,
        lines,
        reset_link: forgot_password_link(cx.outbox.public_url()),
    }
    .letter(to);
    cx.outbox.queue(conn, &letter, cx.now).map(|_| ())
}

/// The device of a request, as known devices record it.
fn device_of(origin: &Origin) -> (String, String) {
    let device = origin
        .user_agent
        .as_deref()
        .map(format::short_user_agent)
        .unwrap_or_else(|| "an unknown browser".to_string());
    let ip = origin.ip.clone().unwrap_or_else(|| "unknown".to_string());
    (device, ip)
}

/// Remembers the device of this sign-in (or sign-up). Returns whether it
/// is news: new to a user who had signed in from elsewhere before.
pub fn remember_device(
    conn: &mut PgConnection,
    user: UserId,
    origin: &Origin,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    let (device, ip) = device_of(origin);
    let known: Vec<(String, String)> = kd::table
        .filter(kd::user_id.eq(user))
        .select((kd::device, kd::ip))
        .load(conn)?;
    let seen = known.iter().any(|(d, i)| *d == device && *i == ip);
    if seen {
        diesel::update(kd::table.find((user, &device, &ip)))
            .set(kd::last_seen.eq(now))
            .execute(conn)?;
    } else {
        diesel::insert_into(kd::table)
            .values((
                kd::user_id.eq(user),
                kd::device.eq(&device),
                kd::ip.eq(&ip),
                kd::first_seen.eq(now),
                kd::last_seen.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(!seen && !known.is_empty())
}

/// Queues the new-device notice when this sign-in is from a device not
/// seen before.
pub fn signed_in_from(
    conn: &mut PgConnection,
    user: UserId,
    email: &str,
    name: &str,
    cx: Context<'_>,
) -> QueryResult<()> {
    if !remember_device(conn, user, cx.origin, cx.now)? {
        return Ok(());
    }
    let (device, ip) = device_of(cx.origin);
    queue(
        conn,
        email,
        name,
        "A new sign-in to your account",
        vec![format!(
            "Someone signed in to your account from {device} at the address {ip}, which has not signed in to it before."
        )],
        cx,
    )
}

/// A device unseen for this long is forgotten: signing in from it again
/// is news again.
pub const DEVICE_KEPT: time::Duration = time::Duration::days(365);

/// Forgets the devices last seen more than `DEVICE_KEPT` before `now`.
pub fn forget_old_devices(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<usize> {
    diesel::delete(kd::table.filter(kd::last_seen.lt(now - DEVICE_KEPT))).execute(conn)
}
