//! Who belongs to a team and with which role, and the rules for changing
//! that (the core; `pages` holds the Team page and its actions). A team
//! always keeps an Admin: every change locks the account row first, so
//! two Admins acting at the same moment are serialised and the last Admin
//! cannot be lost.

pub mod pages;

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Action, Change};
use crate::authz::Role;
use crate::db::schema::{accounts, memberships, users};
use crate::ids::{AccountId, UserId};

/// What the members core refuses.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// The actor's role changed since the request was authorised.
    #[error("the actor is no longer an Admin")]
    NotAdmin,
    #[error("the team's last Admin cannot be demoted or removed")]
    LastAdmin,
    #[error("the team's last Admin cannot leave")]
    LastAdminLeaving,
    #[error("removing oneself is leaving")]
    RemovingSelf,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(MembersError);

#[derive(Queryable)]
pub struct MemberRow {
    pub user_id: UserId,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub joined: OffsetDateTime,
    /// When they turned two-factor sign-in on (None: they have not).
    pub two_factor_since: Option<OffsetDateTime>,
    /// Their last activity in this team, if any was seen.
    pub last_active_at: Option<OffsetDateTime>,
}

impl MemberRow {
    pub fn joined_on(&self) -> String {
        crate::format::date(&self.joined)
    }

    pub fn has_two_factor(&self) -> bool {
        self.two_factor_since.is_some()
    }

    /// "5 min ago", or "never" for someone not seen in the team.
    pub fn last_active(&self, now: &OffsetDateTime) -> String {
        match &self.last_active_at {
            Some(at) => crate::format::time_ago(at, *now),
            None => "never".into(),
        }
    }
}

/// The columns of a `MemberRow`, in its fields' order.
const MEMBER_COLUMNS: (
    users::id,
    users::display_name,
    users::email,
    memberships::role,
    memberships::created_at,
    users::totp_enabled_at,
    memberships::last_active_at,
) = (
    users::id,
    users::display_name,
    users::email,
    memberships::role,
    memberships::created_at,
    users::totp_enabled_at,
    memberships::last_active_at,
);

/// The account's members, Admins first, then by name.
pub fn list(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Vec<MemberRow>> {
    let mut members: Vec<MemberRow> = memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .order((users::display_name.asc(), users::id.asc()))
        .select(MEMBER_COLUMNS)
        .load(conn)?;
    members.sort_by_key(|m| m.role != Role::Admin);
    Ok(members)
}

/// One member of the account (scoped by account: another team's member
/// id is simply not found).
pub fn find(
    conn: &mut PgConnection,
    account_id: AccountId,
    user_id: UserId,
) -> QueryResult<Option<MemberRow>> {
    memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::user_id.eq(user_id))
        .select(MEMBER_COLUMNS)
        .first(conn)
        .optional()
}

/// Serialises membership changes of one account (held until commit).
fn lock_account(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<()> {
    accounts::table
        .find(account_id)
        .select(accounts::id)
        .for_update()
        .first::<AccountId>(conn)?;
    Ok(())
}

fn role_of(
    conn: &mut PgConnection,
    account_id: AccountId,
    user_id: UserId,
) -> QueryResult<Option<Role>> {
    memberships::table
        .find((account_id, user_id))
        .select(memberships::role)
        .first(conn)
        .optional()
}

fn admin_count(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::role.eq(Role::Admin))
        .count()
        .get_result(conn)
}

/// Re-checks, under the lock, that the actor is still an Admin: their role
/// may have changed since the request was authorised.
fn require_admin(conn: &mut PgConnection, cx: &Change) -> Result<(), MembersError> {
    let role = match cx.actor.id {
        Some(id) => role_of(conn, cx.account_id, id)?,
        None => None,
    };
    match role {
        Some(Role::Admin) => Ok(()),
        Some(_) => Err(MembersError::NotAdmin),
        None => Err(diesel::result::Error::NotFound.into()),
    }
}

/// The account's member `user_id`, or diesel's NotFound (a 404).
fn member(
    conn: &mut PgConnection,
    account_id: AccountId,
    user_id: UserId,
) -> QueryResult<MemberRow> {
    find(conn, account_id, user_id)?.ok_or(diesel::result::Error::NotFound)
}

/// Changes `target`'s role. Returns the member as they were.
pub fn change_role(
    conn: &mut PgConnection,
    cx: &Change,
    target: UserId,
    new_role: Role,
) -> Result<MemberRow, MembersError> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        require_admin(conn, cx)?;
        let member = member(conn, cx.account_id, target)?;
        let old = member.role;
        if old == new_role {
            return Ok(member);
        }
        if old == Role::Admin && admin_count(conn, cx.account_id)? <= 1 {
            return Err(MembersError::LastAdmin);
        }
        diesel::update(memberships::table.find((cx.account_id, target)))
            .set(memberships::role.eq(new_role))
            .execute(conn)?;
        cx.record(
            conn,
            Action::MemberRoleChanged {
                member: target,
                name: member.display_name.clone(),
                email: member.email.clone(),
                old_role: old,
                new_role,
            },
        )?;
        Ok(member)
    })
}

/// Removes `target` from the team (not oneself: that is leaving).
pub fn remove(
    conn: &mut PgConnection,
    cx: &Change,
    target: UserId,
) -> Result<MemberRow, MembersError> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        require_admin(conn, cx)?;
        let member = member(conn, cx.account_id, target)?;
        if Some(target) == cx.actor.id {
            return Err(MembersError::RemovingSelf);
        }
        if member.role == Role::Admin && admin_count(conn, cx.account_id)? <= 1 {
            return Err(MembersError::LastAdmin);
        }
        diesel::delete(memberships::table.find((cx.account_id, target))).execute(conn)?;
        cx.record(
            conn,
            Action::MemberRemoved {
                member: target,
                name: member.display_name.clone(),
                email: member.email.clone(),
                role: member.role,
            },
        )?;
        Ok(member)
    })
}

/// The actor leaves the team, unless they are its last Admin.
pub fn leave(conn: &mut PgConnection, cx: &Change) -> Result<(), MembersError> {
    let me = cx.actor.id.ok_or(diesel::result::Error::NotFound)?;
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        let role = role_of(conn, cx.account_id, me)?.ok_or(diesel::result::Error::NotFound)?;
        if role == Role::Admin && admin_count(conn, cx.account_id)? <= 1 {
            return Err(MembersError::LastAdminLeaving);
        }
        diesel::delete(memberships::table.find((cx.account_id, me))).execute(conn)?;
        cx.record(conn, Action::MemberLeft { member: me, role })?;
        Ok(())
    })
}
