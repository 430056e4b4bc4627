//! Users, accounts and memberships as stored.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::authz::{AccountKind, Role};
use crate::db::schema::{accounts, memberships, users};

diesel::define_sql_function! {
    /// PostgreSQL's lower(), for case-insensitive email comparison.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub owner_id: Uuid,
    pub created_at: OffsetDateTime,
    /// Loaded with every request's memberships, so the billing page needs
    /// no query of its own for them.
    pub balance_cents: i64,
    pub billing_email: Option<String>,
}

impl Account {
    pub fn kind(&self) -> AccountKind {
        AccountKind::parse(&self.kind)
    }
}

/// An account the user belongs to, with their role in it.
#[derive(Debug, Clone)]
pub struct AccountMembership {
    pub account: Account,
    pub role: Role,
}

pub fn find_user_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    // lower(email) = lower($1) uses the unique index users_email_lower_key.
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The user and every account they belong to, in one round trip (this
/// runs on every signed-in request).
pub fn user_with_memberships(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> QueryResult<Option<(User, Vec<AccountMembership>)>> {
    let rows: Vec<(User, Option<Account>, Option<String>)> = users::table
        .left_join(memberships::table.on(memberships::user_id.eq(users::id)))
        .left_join(accounts::table.on(accounts::id.eq(memberships::account_id)))
        .filter(users::id.eq(user_id))
        .order((
            accounts::kind.asc(),
            accounts::name.asc(),
            accounts::id.asc(),
        ))
        .select((
            User::as_select(),
            Option::<Account>::as_select(),
            memberships::role.nullable(),
        ))
        .load(conn)?;
    let Some((user, _, _)) = rows.first().cloned() else {
        return Ok(None);
    };
    let memberships =
        collect_memberships(rows.into_iter().map(|(_, account, role)| (account, role)));
    Ok(Some((user, memberships)))
}

/// Memberships from the rows of a LEFT JOIN (a user with no account
/// yields one row of NULLs).
pub fn collect_memberships(
    rows: impl Iterator<Item = (Option<Account>, Option<String>)>,
) -> Vec<AccountMembership> {
    rows.filter_map(|(account, role)| {
        Some(AccountMembership {
            account: account?,
            role: Role::parse(&role?).unwrap_or(Role::Basic),
        })
    })
    .collect()
}
