//! Signing up, in and out, as the database sees them: the user, their
//! personal account and its Admin membership in one transaction; the
//! throttle and the audit entries of every sign-in attempt.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::accounts::models::{self, User};
use crate::accounts::two_factor::Factor;
use crate::accounts::{AccountsError, throttle, valid_email};
use crate::audit::{self, Action, Actor, Origin, SignInFailure};
use crate::authz::{AccountKind, Role};
use crate::db::schema::{accounts, memberships, users};
use crate::ids::{AccountId, UserId};
use crate::telemetry;

pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

/// Seconds to wait before this address may try to sign up again, if it
/// hit `throttle::SIGN_UP_LIMIT` taken emails.
pub fn sign_up_locked(
    conn: &mut PgConnection,
    origin: &Origin,
    now: OffsetDateTime,
) -> QueryResult<Option<u64>> {
    let locked = throttle::retry_after(conn, &[throttle::sign_up_key(origin)], now)?;
    if locked.is_some() {
        metrics::counter!(telemetry::SIGN_UP_THROTTLED).increment(1);
    }
    Ok(locked)
}

/// Creates the user, their personal account and its Admin membership.
/// `EmailTaken` when the email is taken (in any letter case), which counts
/// against the address like a failed sign-in: trying emails one after the
/// other to learn which are registered is throttled.
pub fn sign_up(
    conn: &mut PgConnection,
    new: &NewUser<'_>,
    origin: &Origin,
    now: OffsetDateTime,
) -> Result<(UserId, AccountId), AccountsError> {
    let result = conn.transaction(|conn| {
        let user_id = UserId::new();
        let account_id = AccountId::new();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(user_id),
                users::email.eq(new.email),
                users::display_name.eq(new.display_name),
                users::password_hash.eq(new.password_hash),
            ))
            .execute(conn)?;
        diesel::insert_into(accounts::table)
            .values((
                accounts::id.eq(account_id),
                accounts::kind.eq(AccountKind::Personal),
                accounts::name.eq(new.display_name),
                accounts::owner_id.eq(user_id),
            ))
            .execute(conn)?;
        diesel::insert_into(memberships::table)
            .values((
                memberships::account_id.eq(account_id),
                memberships::user_id.eq(user_id),
                memberships::role.eq(Role::Admin),
            ))
            .execute(conn)?;
        // The browser one signs up with is a device seen before.
        crate::accounts::notices::remember_device(conn, user_id, origin, now)?;
        audit::record(
            conn,
            Some(account_id),
            Some(&Actor::user(user_id, new.email, new.display_name)),
            origin,
            Action::UserSignedUp {
                user: user_id,
                display_name: new.display_name.to_string(),
            },
        )?;
        Ok((user_id, account_id))
    });
    match result {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            let key = throttle::sign_up_key(origin);
            conn.transaction(|conn| {
                throttle::record_failure(conn, &key, throttle::SIGN_UP_LIMIT, now)
            })?;
            Err(AccountsError::EmailTaken)
        }
        other => other.map_err(AccountsError::Db),
    }
}

/// What a sign-in attempt finds before the password is checked.
pub enum Attempt {
    /// Too many failures: wait this many seconds.
    Locked { retry_after: u64 },
    /// The user with that email, if any (checked against a dummy hash
    /// otherwise, so timing reveals nothing).
    Open(Option<User>),
}

pub fn begin_sign_in(
    conn: &mut PgConnection,
    email: &str,
    origin: &Origin,
    now: OffsetDateTime,
) -> QueryResult<Attempt> {
    let keys = throttle::SignInKeys::new(email, origin);
    if let Some(retry_after) = throttle::retry_after(conn, &keys.all(), now)? {
        metrics::counter!(telemetry::SIGN_IN_THROTTLED).increment(1);
        return Ok(Attempt::Locked { retry_after });
    }
    // No account has an email that is not one: no need to look.
    if !valid_email(email) {
        return Ok(Attempt::Open(None));
    }
    Ok(Attempt::Open(models::find_user_by_email(conn, email)?))
}

/// A right password: the email's failures (from anywhere, and from this
/// address) are forgiven.
pub fn password_accepted(conn: &mut PgConnection, user: &User, origin: &Origin) -> QueryResult<()> {
    let keys = throttle::SignInKeys::new(&user.email, origin);
    throttle::clear(conn, &keys.email_address)?;
    throttle::clear(conn, &keys.email)
}

/// Signed in: after a right password, and the second factor that passed
/// when the user has two-factor sign-in. Audited; a device not seen
/// before gets its notice (`notices`).
pub fn signed_in(
    conn: &mut PgConnection,
    user: &User,
    origin: &Origin,
    second_factor: Option<Factor>,
    now: OffsetDateTime,
    outbox: &crate::mail::Outbox,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        password_accepted(conn, user, origin)?;
        crate::accounts::notices::signed_in_from(
            conn,
            user.id,
            &user.email,
            &user.display_name,
            crate::accounts::notices::Context {
                origin,
                now,
                outbox,
            },
        )?;
        audit::record(
            conn,
            None,
            Some(&Actor::user(user.id, &user.email, &user.display_name)),
            origin,
            Action::UserSignedIn {
                user: user.id,
                second_factor: second_factor.map(Factor::as_str),
            },
        )
    })
}

/// A refused sign-in, for whatever reason (wrong password, unknown or
/// malformed email), or a wrong password when asked to confirm it: counted
/// against its keys, and audited with the email as typed (cut to 254
/// characters).
pub fn sign_in_failed(
    conn: &mut PgConnection,
    email: &str,
    origin: &Origin,
    now: OffsetDateTime,
    reason: SignInFailure,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let keys = throttle::SignInKeys::new(email, origin);
        for (key, limit) in keys.limits() {
            throttle::record_failure(conn, key, limit, now)?;
        }
        let actor = Actor {
            id: None,
            email: email
                .chars()
                .filter(|c| !c.is_control())
                .take(254)
                .collect(),
            name: None,
        };
        audit::record(
            conn,
            None,
            Some(&actor),
            origin,
            Action::UserSignInFailed { reason },
        )
    })?;
    metrics::counter!(telemetry::SIGN_IN_FAILURES).increment(1);
    Ok(())
}

pub fn signed_out(conn: &mut PgConnection, user: &User, origin: &Origin) -> QueryResult<()> {
    audit::record(
        conn,
        None,
        Some(&Actor::user(user.id, &user.email, &user.display_name)),
        origin,
        Action::UserSignedOut { user: user.id },
    )
}
