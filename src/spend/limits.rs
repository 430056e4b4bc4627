//! Monthly spend limits: the team's budget, a default limit per role and a
//! member's own limit in place of their role's. Billing and Admin set them
//! (SPEC §10); every change is audited in its transaction, and a change
//! that changes nothing writes nothing.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::audit::{Action, Change};
use crate::authz::Role;
use crate::db::schema::{member_spend_limits, role_spend_limits, team_budgets};
use crate::ids::{AccountId, UserId};
use crate::spend::lock_account;

/// An account's limits, in cents a month.
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub budget_cents: Option<i64>,
    pub roles: HashMap<Role, i64>,
    pub members: HashMap<UserId, i64>,
}

/// Where a member's limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// Their own limit.
    Member,
    /// Their role's default.
    Role(Role),
}

impl Limits {
    /// The limit that applies to `user`, whose role is `role`.
    pub fn member_limit(&self, user: UserId, role: Option<Role>) -> Option<(i64, LimitSource)> {
        if let Some(cents) = self.members.get(&user) {
            return Some((*cents, LimitSource::Member));
        }
        let role = role?;
        self.roles
            .get(&role)
            .map(|cents| (*cents, LimitSource::Role(role)))
    }
}

pub fn load(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Limits> {
    let budget_cents = team_budgets::table
        .find(account_id)
        .select(team_budgets::monthly_cents)
        .first(conn)
        .optional()?;
    let roles = role_spend_limits::table
        .filter(role_spend_limits::account_id.eq(account_id))
        .select((role_spend_limits::role, role_spend_limits::monthly_cents))
        .load::<(Role, i64)>(conn)?
        .into_iter()
        .collect();
    let members = member_spend_limits::table
        .filter(member_spend_limits::account_id.eq(account_id))
        .select((
            member_spend_limits::user_id,
            member_spend_limits::monthly_cents,
        ))
        .load::<(UserId, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(Limits {
        budget_cents,
        roles,
        members,
    })
}

/// Sets (or, with None, removes) the team's monthly budget. Returns
/// whether it changed.
pub fn set_budget(conn: &mut PgConnection, cx: &Change, new: Option<i64>) -> QueryResult<bool> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        let old: Option<i64> = team_budgets::table
            .find(cx.account_id)
            .select(team_budgets::monthly_cents)
            .first(conn)
            .optional()?;
        if old == new {
            return Ok(false);
        }
        match new {
            Some(cents) => {
                diesel::insert_into(team_budgets::table)
                    .values((
                        team_budgets::account_id.eq(cx.account_id),
                        team_budgets::monthly_cents.eq(cents),
                        team_budgets::updated_at.eq(cx.now),
                    ))
                    .on_conflict(team_budgets::account_id)
                    .do_update()
                    .set((
                        team_budgets::monthly_cents.eq(cents),
                        team_budgets::updated_at.eq(cx.now),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::delete(team_budgets::table.find(cx.account_id)).execute(conn)?;
            }
        }
        cx.record(
            conn,
            Action::SpendBudgetChanged {
                account: cx.account_id,
                old_cents: old,
                new_cents: new,
            },
        )?;
        Ok(true)
    })
}

/// Sets each role's default monthly limit (None removes it). Returns how
/// many changed.
pub fn set_role_limits(
    conn: &mut PgConnection,
    cx: &Change,
    limits: &[(Role, Option<i64>)],
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        let mut changed = 0;
        for &(role, new) in limits {
            let key = role_spend_limits::table.find((cx.account_id, role.as_str()));
            let old: Option<i64> = key
                .select(role_spend_limits::monthly_cents)
                .first(conn)
                .optional()?;
            if old == new {
                continue;
            }
            match new {
                Some(cents) => {
                    diesel::insert_into(role_spend_limits::table)
                        .values((
                            role_spend_limits::account_id.eq(cx.account_id),
                            role_spend_limits::role.eq(role),
                            role_spend_limits::monthly_cents.eq(cents),
                            role_spend_limits::updated_at.eq(cx.now),
                        ))
                        .on_conflict((role_spend_limits::account_id, role_spend_limits::role))
                        .do_update()
                        .set((
                            role_spend_limits::monthly_cents.eq(cents),
                            role_spend_limits::updated_at.eq(cx.now),
                        ))
                        .execute(conn)?;
                }
                None => {
                    diesel::delete(key).execute(conn)?;
                }
            }
            cx.record(
                conn,
                Action::SpendRoleLimitChanged {
                    account: cx.account_id,
                    role,
                    old_cents: old,
                    new_cents: new,
                },
            )?;
            changed += 1;
        }
        Ok(changed)
    })
}

/// Sets (or, with None, removes) a member's own monthly limit. Another
/// account's member, or no member, is diesel's NotFound. Returns whether
/// it changed, and the member's name.
pub fn set_member_limit(
    conn: &mut PgConnection,
    cx: &Change,
    member: UserId,
    new: Option<i64>,
) -> QueryResult<(bool, String)> {
    conn.transaction(|conn| {
        lock_account(conn, cx.account_id)?;
        let row = crate::members::find(conn, cx.account_id, member)?
            .ok_or(diesel::result::Error::NotFound)?;
        let key = member_spend_limits::table.find((cx.account_id, member));
        let old: Option<i64> = key
            .select(member_spend_limits::monthly_cents)
            .first(conn)
            .optional()?;
        if old == new {
            return Ok((false, row.display_name));
        }
        match new {
            Some(cents) => {
                diesel::insert_into(member_spend_limits::table)
                    .values((
                        member_spend_limits::account_id.eq(cx.account_id),
                        member_spend_limits::user_id.eq(member),
                        member_spend_limits::monthly_cents.eq(cents),
                        member_spend_limits::updated_at.eq(cx.now),
                    ))
                    .on_conflict((
                        member_spend_limits::account_id,
                        member_spend_limits::user_id,
                    ))
                    .do_update()
                    .set((
                        member_spend_limits::monthly_cents.eq(cents),
                        member_spend_limits::updated_at.eq(cx.now),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::delete(key).execute(conn)?;
            }
        }
        cx.record(
            conn,
            Action::SpendMemberLimitChanged {
                member,
                name: row.display_name.clone(),
                role: row.role,
                old_cents: old,
                new_cents: new,
            },
        )?;
        Ok((true, row.display_name))
    })
}
