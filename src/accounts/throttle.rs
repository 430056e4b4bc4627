//! Throttling of sign-ins and sign-ups, kept in PostgreSQL so it survives
//! restarts and is shared by every console process. Unknown emails are
//! throttled exactly like known ones.
//!
//! A sign-in failure counts against three keys: the email from that
//! address (locks after `EMAIL_ADDRESS_LIMIT`), the email from anywhere
//! (a higher ceiling, `EMAIL_LIMIT`, against a spread-out attack) and the
//! address (`IP_LIMIT`, against one address trying many emails). So
//! failing with someone else's email locks the one who fails, not the
//! owner signing in from elsewhere.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::audit::Origin;
use crate::db::schema::sign_in_throttles as t;

pub const WINDOW: Duration = Duration::minutes(15);
pub const EMAIL_ADDRESS_LIMIT: i32 = 5;
pub const EMAIL_LIMIT: i32 = 25;
pub const IP_LIMIT: i32 = 50;
/// Sign-ups refused (email taken) from one address.
pub const SIGN_UP_LIMIT: i32 = 5;
/// Wrong second-factor codes of one user (the password was right).
pub const TWO_FACTOR_LIMIT: i32 = 5;
/// Password reset links asked for one email (from anywhere) ...
pub const RESET_EMAIL_LIMIT: i32 = 3;
/// ... and from one address (for any emails), per window.
pub const RESET_ADDRESS_LIMIT: i32 = 10;
const MAX_LOCK: Duration = Duration::minutes(15);

/// The email as keys hold it: trimmed, lowercased, at most as long as an
/// email can be (a longer one is refused anyway, but still counted).
fn email_part(email: &str) -> String {
    email
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .take(254)
        .collect()
}

fn address(origin: &Origin) -> &str {
    origin.ip.as_deref().unwrap_or("unknown")
}

/// The keys a sign-in attempt counts against, with their limits.
pub struct SignInKeys {
    pub email_address: String,
    pub email: String,
    pub address: String,
}

impl SignInKeys {
    pub fn new(email: &str, origin: &Origin) -> SignInKeys {
        let email = email_part(email);
        let address = address(origin);
        SignInKeys {
            email_address: format!("email-ip:{email}|{address}"),
            email: format!("email:{email}"),
            address: format!("ip:{address}"),
        }
    }

    pub fn all(&self) -> [String; 3] {
        [
            self.email_address.clone(),
            self.email.clone(),
            self.address.clone(),
        ]
    }

    pub fn limits(&self) -> [(&str, i32); 3] {
        [
            (&self.email_address, EMAIL_ADDRESS_LIMIT),
            (&self.email, EMAIL_LIMIT),
            (&self.address, IP_LIMIT),
        ]
    }
}

/// The key counting refused sign-ups from an address.
pub fn sign_up_key(origin: &Origin) -> String {
    format!("sign-up:{}", address(origin))
}

/// The keys counting requests for reset links: the email (so nobody can
/// flood an inbox) and the address (so nobody can probe or spam many),
/// limited by `RESET_EMAIL_LIMIT` and `RESET_ADDRESS_LIMIT`. Every request
/// counts, for registered and unknown emails alike.
pub fn reset_keys(email: &str, origin: &Origin) -> [String; 2] {
    [
        format!("reset-email:{}", email_part(email)),
        format!("reset-ip:{}", address(origin)),
    ]
}

/// The key counting a user's wrong two-factor codes, wherever they come
/// from: whoever types them already knows the password.
pub fn two_factor_key(user: crate::ids::UserId) -> String {
    format!("two-factor:{user}")
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
