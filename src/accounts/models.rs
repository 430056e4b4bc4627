//! Users, accounts and memberships as stored, and the query every
//! signed-in request makes: the user with every account they belong to.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::authz::{AccountKind, Role};
use crate::db::schema::{accounts, users};
use crate::ids::{AccountId, UserId};

diesel::define_sql_function! {
    /// PostgreSQL's lower(), for case-insensitive email comparison.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub name: String,
    pub owner_id: UserId,
    pub created_at: OffsetDateTime,
    /// Loaded with every request's memberships, so the billing page needs
    /// no query of its own for them.
    pub balance_cents: i64,
    pub billing_email: Option<String>,
}

impl Account {
    pub fn is_team(&self) -> bool {
        self.kind == AccountKind::Team
    }
}

/// An account the user belongs to, with their role in it.
#[derive(Debug, Clone)]
pub struct AccountMembership {
    pub account: Account,
    pub role: Role,
}

/// A signed-in user and every account they belong to.
pub type Principal = (User, Vec<AccountMembership>);

pub fn find_user_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    // lower(email) = lower($1) uses the unique index users_email_lower_key.
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn display_name(conn: &mut PgConnection, user_id: UserId) -> QueryResult<String> {
    users::table
        .find(user_id)
        .select(users::display_name)
        .first(conn)
}

pub fn account_name(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<String> {
    accounts::table
        .find(account_id)
        .select(accounts::name)
        .first(conn)
}

/// Joins `memberships` and `accounts` onto a query that has the user
/// (whose id is `$user`), orders by account as the switcher lists them,
/// and selects `$select` (ending with the user) then an account and the
/// role: the shape both principal loads share (here, and with the
/// session in `sessions::load`). A user with no account yields one row of
/// NULLs.
macro_rules! with_memberships {
    ($query:expr, $user:expr, ($($select:expr),*)) => {{
        use $crate::db::schema::{accounts, memberships};
        $query
            .left_join(memberships::table.on(memberships::user_id.nullable().eq($user)))
            .left_join(accounts::table.on(accounts::id.eq(memberships::account_id)))
            .order((accounts::kind.asc(), accounts::name.asc(), accounts::id.asc()))
            .select((
                $($select,)*
                Option::<$crate::accounts::models::Account>::as_select(),
                memberships::role.nullable(),
            ))
    }};
}
pub(crate) use with_memberships;

/// The principal from the rows of `with_memberships`, if they name a user.
pub fn principal(
    rows: impl Iterator<Item = (Option<User>, Option<Account>, Option<Role>)>,
) -> Option<Principal> {
    let mut user = None;
    let mut memberships = Vec::new();
    for (row_user, account, role) in rows {
        if user.is_none() {
            user = row_user;
        }
        if let (Some(account), Some(role)) = (account, role) {
            memberships.push(AccountMembership { account, role });
        }
    }
    user.map(|user| (user, memberships))
}

/// The user and every account they belong to, in one round trip (this
/// runs on every signed-in request).
pub fn user_with_memberships(
    conn: &mut PgConnection,
    user_id: UserId,
) -> QueryResult<Option<Principal>> {
    let rows: Vec<(User, Option<Account>, Option<Role>)> = with_memberships!(
        users::table.filter(users::id.eq(user_id)),
        users::id.nullable(),
        (User::as_select())
    )
    .load(conn)?;
    Ok(principal(
        rows.into_iter()
            .map(|(user, account, role)| (Some(user), account, role)),
    ))
}
