//! A person's own details, changed from their profile page: display name,
//! email, password. Each change is audited in their personal account's log
//! (`audit::PersonalChange`). Checking the current password is the
//! handler's (it is slow, and runs off the database connection).

use diesel::prelude::*;

use crate::accounts::notices::{self, Context};
use crate::accounts::{AccountsError, sessions, throttle};
use crate::audit::{Action, PersonalChange};
use crate::authz::AccountKind;
use crate::db::schema::{accounts, users};
use crate::ids::SessionId;

/// Renames the person (and their personal account, which carries their
/// name). Returns the old name; nothing is recorded when it is the same.
pub fn rename(conn: &mut PgConnection, cx: &PersonalChange, name: &str) -> QueryResult<String> {
    conn.transaction(|conn| {
        let old: String = users::table
            .find(cx.user)
            .select(users::display_name)
            .for_update()
            .first(conn)?;
        if old == name {
            return Ok(old);
        }
        diesel::update(users::table.find(cx.user))
            .set(users::display_name.eq(name))
            .execute(conn)?;
        diesel::update(
            accounts::table
                .filter(accounts::owner_id.eq(cx.user))
                .filter(accounts::kind.eq(AccountKind::Personal)),
        )
        .set(accounts::name.eq(name))
        .execute(conn)?;
        cx.record(
            conn,
            Action::UserNameChanged {
                user: cx.user,
                old_name: old.clone(),
                new_name: name.to_string(),
            },
        )?;
        Ok(old)
    })
}

/// Changes the person's email. `EmailTaken` when another user has it (in
/// any letter case), which counts against the address like a refused
/// sign-up: this cannot be used to list registered emails faster.
/// A notice goes to the old address and the new one.
pub fn change_email(
    conn: &mut PgConnection,
    cx: &PersonalChange,
    email: &str,
    outbox: &crate::mail::Outbox,
) -> Result<String, AccountsError> {
    let result = conn.transaction(|conn| {
        let old: String = users::table
            .find(cx.user)
            .select(users::email)
            .for_update()
            .first(conn)?;
        if old == email {
            return Ok(old);
        }
        diesel::update(users::table.find(cx.user))
            .set(users::email.eq(email))
            .execute(conn)?;
        cx.record(
            conn,
            Action::UserEmailChanged {
                user: cx.user,
                old_email: old.clone(),
                new_email: email.to_string(),
            },
        )?;
        let name = cx.actor.name.as_deref().unwrap_or_default();
        let lines = vec![format!(
            "The email of your Team Console account was changed from {old} to {email}."
        )];
        for to in [old.as_str(), email] {
            notices::queue(
                conn,
                to,
                name,
                "Your email was changed",
                lines.clone(),
                Context {
                    origin: &cx.origin,
                    now: cx.now,
                    outbox,
                },
            )?;
        }
        Ok(old)
    });
    match result {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            let key = throttle::sign_up_key(&cx.origin);
            conn.transaction(|conn| {
                throttle::record_failure(conn, &key, throttle::SIGN_UP_LIMIT, cx.now)
            })?;
            Err(AccountsError::EmailTaken)
        }
        other => other.map_err(AccountsError::Db),
    }
}

/// Sets a new password hash and ends every other session of the person
/// (`keep` is the one they changed it from), with a notice to their email.
/// Returns how many ended.
pub fn change_password(
    conn: &mut PgConnection,
    cx: &PersonalChange,
    password_hash: &str,
    keep: Option<SessionId>,
    outbox: &crate::mail::Outbox,
) -> QueryResult<i64> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(cx.user))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        let ended = sessions::delete_others(conn, cx.user, keep)?;
        cx.record(
            conn,
            Action::UserPasswordChanged {
                user: cx.user,
                sessions_ended: ended,
            },
        )?;
        let (email, name): (String, String) = users::table
            .find(cx.user)
            .select((users::email, users::display_name))
            .first(conn)?;
        notices::queue(
            conn,
            &email,
            &name,
            "Your password was changed",
            vec!["The password of your Team Console account was changed from its profile page, and its other sessions were signed out.".into()],
            Context {
                origin: &cx.origin,
                now: cx.now,
                outbox,
            },
        )?;
        Ok(ended)
    })
}
