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
    /// When two-factor sign-in was turned on; None while it is off.
    pub totp_enabled_at: Option<OffsetDateTime>,
}

impl User {
    pub fn has_two_factor(&self) -> bool {
        self.totp_enabled_at.is_some()
    }
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
    /// Members must sign in with two factors to use the team.
    pub require_two_factor: bool,
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
    /// The member's last activity in the account (rolled forward at most
    /// every `ACTIVITY_GRANULARITY`).
    pub last_active_at: Option<OffsetDateTime>,
}

/// A member's last activity is written at most this often.
pub const ACTIVITY_GRANULARITY: time::Duration = time::Duration::minutes(5);

/// A signed-in user and every account they belong to.
pub type Principal = (User, Vec<AccountMembership>);

pub fn find_user_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<User>> {
    // lower(email) = lower($1) uses the unique index users_email_lower_key.
    users::table
        .filter(lower(users::email).eq(lower(email)))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find_user(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(user_id)
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

/// The display names of the account's Admins (a refusal says whom to ask).
pub fn admin_names(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Vec<String>> {
    use crate::db::schema::memberships;
    memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::role.eq(Role::Admin))
        .order((users::display_name.asc(), users::id.asc()))
        .select(users::display_name)
        .load(conn)
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
            // A deleted account has no memberships left; the condition
            // keeps it out even so.
            .left_join(accounts::table.on(
                accounts::id.eq(memberships::account_id).and(accounts::deleted_at.is_null()),
            ))
            .order((accounts::kind.asc(), accounts::name.asc(), accounts::id.asc()))
            .select((
                $($select,)*
                Option::<$crate::accounts::models::Account>::as_select(),
                memberships::role.nullable(),
                memberships::last_active_at.nullable(),
            ))
    }};
}
pub(crate) use with_memberships;

/// One row of `with_memberships`: the user, then an account, the role in
/// it and the last activity there.
pub type MembershipRow = (
    Option<User>,
    Option<Account>,
    Option<Role>,
    Option<OffsetDateTime>,
);

/// `MembershipRow` where the user is certain (loaded by id).
type UserRow = (User, Option<Account>, Option<Role>, Option<OffsetDateTime>);

/// The principal from the rows of `with_memberships`, if they name a user.
pub fn principal(rows: impl Iterator<Item = MembershipRow>) -> Option<Principal> {
    let mut user = None;
    let mut memberships = Vec::new();
    for (row_user, account, role, last_active_at) in rows {
        if user.is_none() {
            user = row_user;
        }
        if let (Some(account), Some(role)) = (account, role) {
            memberships.push(AccountMembership {
                account,
                role,
                last_active_at,
            });
        }
    }
    user.map(|user| (user, memberships))
}

/// Notes that `user` used `account` at `now` (the Team page's access
/// review shows it).
pub fn touch_membership(
    conn: &mut PgConnection,
    account_id: AccountId,
    user_id: UserId,
    now: OffsetDateTime,
) -> QueryResult<()> {
    use crate::db::schema::memberships;
    diesel::update(memberships::table.find((account_id, user_id)))
        .set(memberships::last_active_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// The personal account of `user_id`, if they still have one (converting
/// it into a team leaves them without).
pub fn personal_account(
    conn: &mut PgConnection,
    user_id: UserId,
) -> QueryResult<Option<AccountId>> {
    accounts::table
        .filter(accounts::owner_id.eq(user_id))
        .filter(accounts::kind.eq(AccountKind::Personal))
        .filter(accounts::deleted_at.is_null())
        .select(accounts::id)
        .order(accounts::created_at.asc())
        .first(conn)
        .optional()
}

/// The user and every account they belong to, in one round trip (this
/// runs on every signed-in request).
pub fn user_with_memberships(
    conn: &mut PgConnection,
    user_id: UserId,
) -> QueryResult<Option<Principal>> {
    let rows: Vec<UserRow> = with_memberships!(
        users::table.filter(users::id.eq(user_id)),
        users::id.nullable(),
        (User::as_select())
    )
    .load(conn)?;
    Ok(principal(rows.into_iter().map(
        |(user, account, role, seen)| (Some(user), account, role, seen),
    )))
}
