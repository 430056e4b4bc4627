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

pub fn find_user(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Every account the user belongs to: personal first, then teams by name.
pub fn memberships_of(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<AccountMembership>> {
    let rows: Vec<(Account, String)> = memberships::table
        .inner_join(accounts::table)
        .filter(memberships::user_id.eq(user_id))
        .order((
            accounts::kind.asc(),
            accounts::name.asc(),
            accounts::id.asc(),
        ))
        .select((Account::as_select(), memberships::role))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(account, role)| AccountMembership {
            account,
            role: Role::parse(&role).unwrap_or(Role::Basic),
        })
        .collect())
}
