//! Forgotten passwords: a link mailed on request (or printed for the
//! operator), single use, valid for an hour, kept only as a hash, and
//! refused once the password changed by any other means (the link keeps
//! a fingerprint of the password hash it was issued against). Setting
//! the new password signs every session out.
//!
//! Asking for a link answers the same for every email, registered or not,
//! after the same steps (throttle, token, lookup); only the rows written
//! differ, and the mail is sent later by the outbox, never while the
//! person waits.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::accounts::models::{self, User};
use crate::accounts::notices::{self, Context};
use crate::accounts::{AccountsError, sessions, throttle, valid_email};
use crate::audit::{Action, Actor, Origin, PersonalChange};
use crate::db::schema::{password_resets as pr, users};
use crate::mail::{Outbox, letters::PasswordReset};
use crate::tokens;

/// How long a reset link works.
pub const LIFETIME: Duration = Duration::hours(1);

/// The path of a reset link (the token follows).
pub const PATH: &str = "/reset-password/";

/// The link for `token`.
pub fn link(public_url: &str, token: &str) -> String {
    format!("{public_url}{PATH}{token}")
}

/// What is kept of the password a link was issued against.
fn fingerprint(password_hash: &str) -> Vec<u8> {
    tokens::sha256(password_hash)
}

/// The answer to a request for a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// "If an account has this email, a link is on its way."
    Answered,
    /// Too many requests for this email or from this address.
    Throttled { retry_after: u64 },
}

/// Someone asks for a reset link for `email` on the sign-in page. For a
/// registered email the link is made and its mail queued (audited in the
/// person's log); for any other nothing is written but the throttle.
pub fn request(
    conn: &mut PgConnection,
    email: &str,
    origin: &Origin,
    now: OffsetDateTime,
    outbox: &Outbox,
) -> QueryResult<Requested> {
    let keys = throttle::reset_keys(email, origin);
    if let Some(retry_after) = throttle::retry_after(conn, &keys, now)? {
        return Ok(Requested::Throttled { retry_after });
    }
    let token = tokens::random_token(32);
    conn.transaction(|conn| {
        throttle::record_failure(conn, &keys[0], throttle::RESET_EMAIL_LIMIT, now)?;
        throttle::record_failure(conn, &keys[1], throttle::RESET_ADDRESS_LIMIT, now)?;
        let user = if valid_email(email) {
            models::find_user_by_email(conn, email)?
        } else {
            None
        };
        if let Some(user) = user {
            let asker = Actor {
                id: None,
                email: email.to_string(),
                name: None,
            };
            issue(conn, &user, &token, &asker, origin, now, false)?;
            let letter = PasswordReset {
                name: &user.display_name,
                link: &link(outbox.public_url(), &token),
                minutes: LIFETIME.whole_minutes(),
            }
            .letter(&user.email);
            outbox.queue(conn, &letter, now)?;
        }
        Ok(Requested::Answered)
    })
}

/// The operator's way out (`team-console users reset-link EMAIL`): a
/// link for the account with this email, printed rather than mailed, and
/// audited as the operator's doing. None when no account has it.
pub fn operator_link(
    conn: &mut PgConnection,
    email: &str,
    now: OffsetDateTime,
    public_url: &str,
) -> QueryResult<Option<String>> {
    conn.transaction(|conn| {
        let Some(user) = models::find_user_by_email(conn, email.trim())? else {
            return Ok(None);
        };
        let token = tokens::random_token(32);
        let operator = Actor {
            id: None,
            email: "operator".to_string(),
            name: Some("The operator".to_string()),
        };
        issue(
            conn,
            &user,
            &token,
            &operator,
            &Origin::default(),
            now,
            true,
        )?;
        Ok(Some(link(public_url, &token)))
    })
}

fn issue(
    conn: &mut PgConnection,
    user: &User,
    token: &str,
    actor: &Actor,
    origin: &Origin,
    now: OffsetDateTime,
    by_operator: bool,
) -> QueryResult<()> {
    diesel::insert_into(pr::table)
        .values((
            pr::token_hash.eq(tokens::sha256(token)),
            pr::user_id.eq(user.id),
            pr::password_fingerprint.eq(fingerprint(&user.password_hash)),
            pr::created_at.eq(now),
            pr::expires_at.eq(now + LIFETIME),
        ))
        .execute(conn)?;
    let cx = PersonalChange {
        user: user.id,
        actor: actor.clone(),
        origin: origin.clone(),
        now,
    };
    cx.record(
        conn,
        Action::UserPasswordResetRequested {
            user: user.id,
            email: user.email.clone(),
            by_operator,
        },
    )
}

/// The user a link resets, if it still works: not used, not expired, and
/// the password unchanged since it was made.
pub fn open(
    conn: &mut PgConnection,
    token: &str,
    now: OffsetDateTime,
) -> QueryResult<Option<User>> {
    let row: Option<(uuid::Uuid, Vec<u8>)> = pr::table
        .filter(pr::token_hash.eq(tokens::sha256(token)))
        .filter(pr::used_at.is_null())
        .filter(pr::expires_at.gt(now))
        .select((pr::user_id, pr::password_fingerprint))
        .first(conn)
        .optional()?;
    let Some((user_id, print)) = row else {
        return Ok(None);
    };
    let user = models::find_user(conn, crate::ids::UserId::from_uuid(user_id))?;
    Ok(user.filter(|u| fingerprint(&u.password_hash) == print))
}

/// Sets the new password through the link (used up with it), signs every
/// session of the person out, audits it and mails the notice. Refused
/// (`ResetLinkUnusable`) when the link no longer works, also when two
/// tabs race for it.
pub fn complete(
    conn: &mut PgConnection,
    token: &str,
    password_hash: &str,
    origin: &Origin,
    now: OffsetDateTime,
    outbox: &Outbox,
) -> Result<User, AccountsError> {
    conn.transaction(|conn| {
        let hash = tokens::sha256(token);
        let row: Option<(uuid::Uuid, Vec<u8>)> = pr::table
            .find(&hash)
            .filter(pr::used_at.is_null())
            .filter(pr::expires_at.gt(now))
            .select((pr::user_id, pr::password_fingerprint))
            .for_update()
            .first(conn)
            .optional()?;
        let Some((user_id, print)) = row else {
            return Err(AccountsError::ResetLinkUnusable);
        };
        let user: User = users::table
            .find(crate::ids::UserId::from_uuid(user_id))
            .select(User::as_select())
            .for_update()
            .first(conn)?;
        if fingerprint(&user.password_hash) != print {
            return Err(AccountsError::ResetLinkUnusable);
        }
        diesel::update(pr::table.find(&hash))
            .set(pr::used_at.eq(now))
            .execute(conn)?;
        diesel::update(users::table.find(user.id))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        let ended = sessions::delete_others(conn, user.id, None)?;
        let cx = PersonalChange {
            user: user.id,
            actor: Actor::user(user.id, &user.email, &user.display_name),
            origin: origin.clone(),
            now,
        };
        cx.record(
            conn,
            Action::UserPasswordReset {
                user: user.id,
                sessions_ended: ended,
            },
        )?;
        notices::queue(
            conn,
            &user.email,
            &user.display_name,
            "Your password was changed",
            vec!["Your password was set anew through a reset link, and every session of your account was signed out.".into()],
            Context {
                origin,
                now,
                outbox,
            },
        )?;
        Ok(user)
    })
}

/// Deletes the reset links that expired before `now` (used or not: an
/// expired link opens nothing either way). Returns how many.
pub fn delete_expired(conn: &mut PgConnection, now: OffsetDateTime) -> QueryResult<usize> {
    diesel::delete(pr::table.filter(pr::expires_at.lt(now))).execute(conn)
}
