//! The Team page's Members section: who belongs to a team and with which
//! role, and the rules for changing that. A team always keeps an Admin:
//! every change locks the account row first, so two Admins acting at the
//! same moment are serialised and the last Admin cannot be lost.

pub mod change_role;
pub mod leave;
pub mod list;
pub mod remove;

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::authz::Role;
use crate::db::schema::{accounts, memberships, users};
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};

pub struct MemberRow {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub joined: OffsetDateTime,
}

impl MemberRow {
    pub fn joined_on(&self) -> String {
        crate::web::format::date(&self.joined)
    }
}

/// The account's members, Admins first, then by name.
pub fn list(conn: &mut PgConnection, account_id: Uuid) -> QueryResult<Vec<MemberRow>> {
    let rows: Vec<(Uuid, String, String, String, OffsetDateTime)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .order((users::display_name.asc(), users::id.asc()))
        .select((
            users::id,
            users::display_name,
            users::email,
            memberships::role,
            memberships::created_at,
        ))
        .load(conn)?;
    let mut members: Vec<MemberRow> = rows
        .into_iter()
        .map(|(user_id, display_name, email, role, joined)| MemberRow {
            user_id,
            display_name,
            email,
            role: Role::parse(&role).unwrap_or(Role::Basic),
            joined,
        })
        .collect();
    members.sort_by_key(|m| m.role != Role::Admin);
    Ok(members)
}

/// One member of the account (scoped by account: another team's member
/// id is simply not found).
pub fn find(
    conn: &mut PgConnection,
    account_id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<MemberRow>> {
    let row: Option<(Uuid, String, String, String, OffsetDateTime)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::user_id.eq(user_id))
        .select((
            users::id,
            users::display_name,
            users::email,
            memberships::role,
            memberships::created_at,
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map(|(user_id, display_name, email, role, joined)| MemberRow {
            user_id,
            display_name,
            email,
            role: Role::parse(&role).unwrap_or(Role::Basic),
            joined,
        }),
    )
}

/// Serialises membership changes of one account (held until commit).
fn lock_account(conn: &mut PgConnection, account_id: Uuid) -> AppResult<()> {
    accounts::table
        .find(account_id)
        .select(accounts::id)
        .for_update()
        .first::<Uuid>(conn)?;
    Ok(())
}

fn role_of(conn: &mut PgConnection, account_id: Uuid, user_id: Uuid) -> QueryResult<Option<Role>> {
    let role: Option<String> = memberships::table
        .find((account_id, user_id))
        .select(memberships::role)
        .first(conn)
        .optional()?;
    Ok(role.as_deref().and_then(Role::parse))
}

fn admin_count(conn: &mut PgConnection, account_id: Uuid) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)
}

/// Re-checks, under the lock, that the actor is still an Admin: their role
/// may have changed since the request was authorised.
fn require_admin(conn: &mut PgConnection, account_id: Uuid, actor_id: Uuid) -> AppResult<()> {
    match role_of(conn, account_id, actor_id)? {
        Some(Role::Admin) => Ok(()),
        Some(_) => Err(AppError::Forbidden),
        None => Err(AppError::NotFound),
    }
}

pub const LAST_ADMIN: &str = "A team needs at least one Admin. Make someone else an Admin first.";

/// Changes `target`'s role. Returns the old role.
pub fn change_role(
    conn: &mut PgConnection,
    account_id: Uuid,
    actor: &Actor,
    target: Uuid,
    new_role: Role,
    client: &ClientInfo,
) -> AppResult<Role> {
    conn.transaction(|conn| {
        lock_account(conn, account_id)?;
        require_admin(conn, account_id, actor.id.unwrap_or_default())?;
        let member = find(conn, account_id, target)?.ok_or(AppError::NotFound)?;
        let old = member.role;
        if old == new_role {
            return Ok(old);
        }
        if old == Role::Admin && admin_count(conn, account_id)? <= 1 {
            return Err(AppError::Conflict(LAST_ADMIN.into()));
        }
        diesel::update(memberships::table.find((account_id, target)))
            .set(memberships::role.eq(new_role.as_str()))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(actor),
                action: "member.role_changed",
                resource_type: "member",
                resource_id: Some(target.to_string()),
                client,
                details: json!({
                    "email": member.email,
                    "old_role": old.as_str(),
                    "new_role": new_role.as_str(),
                }),
            },
        )?;
        Ok(old)
    })
}

/// Removes `target` from the team (not oneself: that is leaving).
pub fn remove(
    conn: &mut PgConnection,
    account_id: Uuid,
    actor: &Actor,
    target: Uuid,
    client: &ClientInfo,
) -> AppResult<MemberRow> {
    conn.transaction(|conn| {
        lock_account(conn, account_id)?;
        require_admin(conn, account_id, actor.id.unwrap_or_default())?;
        let member = find(conn, account_id, target)?.ok_or(AppError::NotFound)?;
        if Some(target) == actor.id {
            return Err(AppError::Conflict(
                "To remove yourself, use Leave team.".into(),
            ));
        }
        if member.role == Role::Admin && admin_count(conn, account_id)? <= 1 {
            return Err(AppError::Conflict(LAST_ADMIN.into()));
        }
        diesel::delete(memberships::table.find((account_id, target))).execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(actor),
                action: "member.removed",
                resource_type: "member",
                resource_id: Some(target.to_string()),
                client,
                details: json!({ "email": member.email, "role": member.role.as_str() }),
            },
        )?;
        Ok(member)
    })
}

/// The actor leaves the team, unless they are its last Admin.
pub fn leave(
    conn: &mut PgConnection,
    account_id: Uuid,
    actor: &Actor,
    client: &ClientInfo,
) -> AppResult<()> {
    let me = actor.id.unwrap_or_default();
    conn.transaction(|conn| {
        lock_account(conn, account_id)?;
        let role = role_of(conn, account_id, me)?.ok_or(AppError::NotFound)?;
        if role == Role::Admin && admin_count(conn, account_id)? <= 1 {
            return Err(AppError::Conflict(
                "You are the last Admin of this team: make someone else an Admin before leaving."
                    .into(),
            ));
        }
        diesel::delete(memberships::table.find((account_id, me))).execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(actor),
                action: "member.left",
                resource_type: "member",
                resource_id: Some(me.to_string()),
                client,
                details: json!({ "role": role.as_str() }),
            },
        )?;
        Ok(())
    })
}
