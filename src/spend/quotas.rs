//! GPU quotas: the most GPUs of each type a member may run at once, set by
//! Admins per role (each member of the role gets that many) and per member
//! (in place of their role's, type by type). No quota: no cap. Starts check
//! them with the account row locked, so concurrent starts cannot together
//! exceed one (see `transitions::start`).

use std::collections::HashMap;

use diesel::prelude::*;

use crate::audit::{Action, Change};
use crate::authz::Role;
use crate::db::schema::{member_gpu_quotas, role_gpu_quotas};
use crate::ids::{AccountId, UserId};
use crate::spend::lock_account;

#[derive(Debug, Default, Clone)]
pub struct Quotas {
    pub roles: HashMap<(Role, String), i32>,
    pub members: HashMap<(UserId, String), i32>,
}

/// Where a member's quota comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaSource {
    Member,
    Role(Role),
}

impl Quotas {
    /// The quota of `gpu_type` for `user`, whose role is `role`.
    pub fn quota(
        &self,
        user: UserId,
        role: Option<Role>,
        gpu_type: &str,
    ) -> Option<(i32, QuotaSource)> {
        if let Some(max) = self.members.get(&(user, gpu_type.to_string())) {
            return Some((*max, QuotaSource::Member));
        }
        let role = role?;
        self.roles
            .get(&(role, gpu_type.to_string()))
            .map(|max| (*max, QuotaSource::Role(role)))
    }
}

pub fn load(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Quotas> {
    let roles = role_gpu_quotas::table
        .filter(role_gpu_quotas::account_id.eq(account_id))
        .select((
            role_gpu_quotas::role,
            role_gpu_quotas::gpu_type,
            role_gpu_quotas::max_gpus,
        ))
        .load::<(Role, String, i32)>(conn)?
        .into_iter()
        .map(|(role, gpu, max)| ((role, gpu), max))
        .collect();
    let members = member_gpu_quotas::table
        .filter(member_gpu_quotas::account_id.eq(account_id))
        .select((
            member_gpu_quotas::user_id,
            member_gpu_quotas::gpu_type,
            member_gpu_quotas::max_gpus,
        ))
        .load::<(UserId, String, i32)>(conn)?
        .into_iter()
        .map(|(user, gpu, max)| ((user, gpu), max))
        .collect();
    Ok(Quotas { roles, members })
}

/// Sets a role's quota for each GPU type given (None removes it). Returns
/// how many changed.
pub fn set_role_quotas(
    conn: &mut PgConnection,
    cx: &Change,
    role: Role,
    quotas: &[(&str, Option<i32>)],
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        let mut changed = 0;
        for &(gpu_type, new) in quotas {
            let key = role_gpu_quotas::table.find((cx.account_id, role.as_str(), gpu_type));
            let old: Option<i32> = key
                .select(role_gpu_quotas::max_gpus)
                .first(conn)
                .optional()?;
            if old == new {
                continue;
            }
            match new {
                Some(max) => {
                    diesel::insert_into(role_gpu_quotas::table)
                        .values((
                            role_gpu_quotas::account_id.eq(cx.account_id),
                            role_gpu_quotas::role.eq(role),
                            role_gpu_quotas::gpu_type.eq(gpu_type),
                            role_gpu_quotas::max_gpus.eq(max),
                            role_gpu_quotas::updated_at.eq(cx.now),
                        ))
                        .on_conflict((
                            role_gpu_quotas::account_id,
                            role_gpu_quotas::role,
                            role_gpu_quotas::gpu_type,
                        ))
                        .do_update()
                        .set((
                            role_gpu_quotas::max_gpus.eq(max),
                            role_gpu_quotas::updated_at.eq(cx.now),
                        ))
                        .execute(conn)?;
                }
                None => {
                    diesel::delete(key).execute(conn)?;
                }
            }
            cx.record(
                conn,
                Action::SpendRoleQuotaChanged {
                    account: cx.account_id,
                    role,
                    gpu_type: gpu_type.to_string(),
                    old_gpus: old,
                    new_gpus: new,
                },
            )?;
            changed += 1;
        }
        Ok(changed)
    })
}

/// Sets a member's own quota for each GPU type given (None: their role's
/// applies). Another account's member is diesel's NotFound. Returns how
/// many changed, and the member's name.
pub fn set_member_quotas(
    conn: &mut PgConnection,
    cx: &Change,
    member: UserId,
    quotas: &[(&str, Option<i32>)],
) -> QueryResult<(usize, String)> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        let row = crate::members::find(conn, cx.account_id, member)?
            .ok_or(diesel::result::Error::NotFound)?;
        let mut changed = 0;
        for &(gpu_type, new) in quotas {
            let key = member_gpu_quotas::table.find((cx.account_id, member, gpu_type));
            let old: Option<i32> = key
                .select(member_gpu_quotas::max_gpus)
                .first(conn)
                .optional()?;
            if old == new {
                continue;
            }
            match new {
                Some(max) => {
                    diesel::insert_into(member_gpu_quotas::table)
                        .values((
                            member_gpu_quotas::account_id.eq(cx.account_id),
                            member_gpu_quotas::user_id.eq(member),
                            member_gpu_quotas::gpu_type.eq(gpu_type),
                            member_gpu_quotas::max_gpus.eq(max),
                            member_gpu_quotas::updated_at.eq(cx.now),
                        ))
                        .on_conflict((
                            member_gpu_quotas::account_id,
                            member_gpu_quotas::user_id,
                            member_gpu_quotas::gpu_type,
                        ))
                        .do_update()
                        .set((
                            member_gpu_quotas::max_gpus.eq(max),
                            member_gpu_quotas::updated_at.eq(cx.now),
                        ))
                        .execute(conn)?;
                }
                None => {
                    diesel::delete(key).execute(conn)?;
                }
            }
            cx.record(
                conn,
                Action::SpendMemberQuotaChanged {
                    member,
                    name: row.display_name.clone(),
                    gpu_type: gpu_type.to_string(),
                    old_gpus: old,
                    new_gpus: new,
                },
            )?;
            changed += 1;
        }
        Ok((changed, row.display_name))
    })
}
