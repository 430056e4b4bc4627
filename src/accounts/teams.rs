//! A personal account becomes a team (its owner converts it, keeping its
//! resources and history, and is its first Admin); a team is renamed.

use diesel::prelude::*;

use crate::accounts::AccountsError;
use crate::accounts::models::Account;
use crate::audit::{Action, Change};
use crate::authz::AccountKind;
use crate::db::schema::{accounts, memberships, users};
use crate::ids::{AccountId, UserId};

/// Only the owner of a personal account may convert it.
pub fn check_convertible(account: &Account, user: UserId) -> Result<(), AccountsError> {
    if account.kind != AccountKind::Personal {
        return Err(AccountsError::AlreadyTeam);
    }
    if account.owner_id != user {
        return Err(AccountsError::NotOwner);
    }
    Ok(())
}

/// Converts `cx`'s account into a team named `name`.
pub fn convert(conn: &mut PgConnection, cx: &Change, name: &str) -> Result<(), AccountsError> {
    conn.transaction(|conn| {
        // Re-checked under the row lock: two confirmations racing convert once.
        let account: Account = accounts::table
            .find(cx.account_id)
            .select(Account::as_select())
            .for_update()
            .first(conn)?;
        match cx.actor.id {
            Some(user) => check_convertible(&account, user)?,
            None => return Err(AccountsError::NotOwner),
        }
        diesel::update(accounts::table.find(cx.account_id))
            .set((
                accounts::kind.eq(AccountKind::Team),
                accounts::name.eq(name),
            ))
            .execute(conn)?;
        cx.record(
            conn,
            Action::AccountConverted {
                account: cx.account_id,
                name: name.to_string(),
                old_name: account.name,
            },
        )?;
        Ok(())
    })
}

/// Renames `cx`'s team (nothing happens when the name is the same).
pub fn rename(conn: &mut PgConnection, cx: &Change, name: &str) -> Result<(), AccountsError> {
    conn.transaction(|conn| {
        let (kind, old): (AccountKind, String) = accounts::table
            .find(cx.account_id)
            .select((accounts::kind, accounts::name))
            .for_update()
            .first(conn)?;
        if kind != AccountKind::Team {
            return Err(AccountsError::NotATeam);
        }
        if old == name {
            return Ok(());
        }
        diesel::update(accounts::table.find(cx.account_id))
            .set(accounts::name.eq(name))
            .execute(conn)?;
        cx.record(
            conn,
            Action::AccountRenamed {
                account: cx.account_id,
                old_name: old,
                new_name: name.to_string(),
            },
        )?;
        Ok(())
    })
}

/// A member of a team without two-factor sign-in.
#[derive(Debug, Clone, Queryable)]
pub struct Unprotected {
    pub user_id: UserId,
    pub display_name: String,
    pub email: String,
}

/// The team's members who have no two-factor sign-in, by name.
pub fn members_without_two_factor(
    conn: &mut PgConnection,
    account_id: AccountId,
) -> QueryResult<Vec<Unprotected>> {
    memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .filter(users::totp_enabled_at.is_null())
        .order((users::display_name.asc(), users::id.asc()))
        .select((users::id, users::display_name, users::email))
        .load(conn)
}

/// Requires (or stops requiring) two-factor sign-in of the team's members.
/// Requiring it takes having it oneself, so an Admin cannot lock themselves
/// out. Returns whether anything changed (nothing is recorded otherwise).
pub fn set_two_factor_rule(
    conn: &mut PgConnection,
    cx: &Change,
    required: bool,
) -> Result<bool, AccountsError> {
    conn.transaction(|conn| {
        let (kind, current): (AccountKind, bool) = accounts::table
            .find(cx.account_id)
            .select((accounts::kind, accounts::require_two_factor))
            .for_update()
            .first(conn)?;
        if kind != AccountKind::Team {
            return Err(AccountsError::NotATeam);
        }
        if current == required {
            return Ok(false);
        }
        let actor = cx.actor.id.ok_or(diesel::result::Error::NotFound)?;
        let has_two_factor: Option<time::OffsetDateTime> = users::table
            .find(actor)
            .select(users::totp_enabled_at)
            .first(conn)?;
        if required && has_two_factor.is_none() {
            return Err(AccountsError::TwoFactorFirst);
        }
        let members_without = members_without_two_factor(conn, cx.account_id)?.len() as i64;
        diesel::update(accounts::table.find(cx.account_id))
            .set(accounts::require_two_factor.eq(required))
            .execute(conn)?;
        cx.record(
            conn,
            Action::AccountTwoFactorRuleChanged {
                account: cx.account_id,
                required,
                members_without,
            },
        )?;
        Ok(true)
    })
}
