//! A personal account becomes a team (its owner converts it, keeping its
//! resources and history, and is its first Admin); a team is renamed.

use diesel::prelude::*;

use crate::accounts::AccountsError;
use crate::accounts::models::Account;
use crate::audit::{Action, Change};
use crate::authz::AccountKind;
use crate::db::schema::accounts;
use crate::ids::UserId;

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
