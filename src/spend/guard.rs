//! What keeps a member from starting or creating a Pod: the team's budget
//! used up (everyone), their own monthly limit used up, or a GPU quota
//! that the Pod would exceed. A refusal says which limit, its figure, what
//! is used and who may raise it, for the Pods page to word.

use diesel::prelude::*;

use crate::authz::{self, AccountKind, Capability, Role};
use crate::db::schema::{memberships, users};
use crate::ids::{AccountId, UserId};
use crate::spend::limits::{self, LimitSource};
use crate::spend::month::Month;
use crate::spend::quotas::{self, QuotaSource};
use crate::spend::usage::{AccountUsage, Totals};

/// Why a member may not start or create a Pod now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The team has used its monthly budget: no one starts Pods.
    TeamBudget {
        budget_cents: i64,
        used: Totals,
        month: Month,
        /// Names of those who may raise it (Billing and Admin members).
        raisers: Vec<String>,
    },
    /// The member has used their monthly limit.
    MemberLimit {
        limit_cents: i64,
        source: LimitSource,
        used: Totals,
        month: Month,
        raisers: Vec<String>,
    },
    /// The Pod's GPUs would take the member past a quota.
    Quota {
        gpu_type: String,
        max_gpus: i32,
        source: QuotaSource,
        /// GPUs of that type the member's running Pods hold.
        running_gpus: i64,
        requested: i32,
        /// Names of the Admins.
        raisers: Vec<String>,
    },
}

/// Whether `used` has reached a limit of `limit_cents` (a limit of $0
/// allows nothing).
pub fn reached(used_cents: i64, limit_cents: i64) -> bool {
    used_cents >= limit_cents
}

/// The member's role in the account, if they are one.
fn role_of(
    conn: &mut PgConnection,
    account_id: AccountId,
    user: UserId,
) -> QueryResult<Option<Role>> {
    memberships::table
        .find((account_id, user))
        .select(memberships::role)
        .first(conn)
        .optional()
}

/// Up to five members who hold `capability` (the people who can lift a
/// block), by name.
pub fn raisers(
    conn: &mut PgConnection,
    account_id: AccountId,
    capability: Capability,
) -> QueryResult<Vec<String>> {
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| authz::allows(AccountKind::Team, *r, capability))
        .collect();
    memberships::table
        .inner_join(users::table)
        .filter(memberships::account_id.eq(account_id))
        .filter(memberships::role.eq_any(roles))
        .order((users::display_name.asc(), users::id.asc()))
        .select(users::display_name)
        .limit(5)
        .load(conn)
}

/// Budget and member limit, given this month's usage.
fn check_limits(
    conn: &mut PgConnection,
    account_id: AccountId,
    user: UserId,
    role: Option<Role>,
    usage: &AccountUsage,
) -> QueryResult<Option<Block>> {
    let limits = limits::load(conn, account_id)?;
    if let Some(budget_cents) = limits.budget_cents {
        let used = usage.team();
        if reached(used.cents, budget_cents) {
            return Ok(Some(Block::TeamBudget {
                budget_cents,
                used,
                month: usage.month,
                raisers: raisers(conn, account_id, Capability::ManageSpend)?,
            }));
        }
    }
    if let Some((limit_cents, source)) = limits.member_limit(user, role) {
        let used = usage.member(user);
        if reached(used.cents, limit_cents) {
            return Ok(Some(Block::MemberLimit {
                limit_cents,
                source,
                used,
                month: usage.month,
                raisers: raisers(conn, account_id, Capability::ManageSpend)?,
            }));
        }
    }
    Ok(None)
}

/// May `user` start a Pod of `gpu_count` × `gpu_type` now? `usage` is the
/// account's, read after its row was locked.
pub fn check_start(
    conn: &mut PgConnection,
    account_id: AccountId,
    user: UserId,
    gpu_type: &str,
    gpu_count: i32,
    usage: &AccountUsage,
) -> QueryResult<Option<Block>> {
    let role = role_of(conn, account_id, user)?;
    if let Some(block) = check_limits(conn, account_id, user, role, usage)? {
        return Ok(Some(block));
    }
    let quotas = quotas::load(conn, account_id)?;
    if let Some((max_gpus, source)) = quotas.quota(user, role, gpu_type) {
        let running_gpus = usage.running_gpus(user, gpu_type);
        if running_gpus + i64::from(gpu_count) > i64::from(max_gpus) {
            return Ok(Some(Block::Quota {
                gpu_type: gpu_type.to_string(),
                max_gpus,
                source,
                running_gpus,
                requested: gpu_count,
                raisers: raisers(conn, account_id, Capability::ManageQuotas)?,
            }));
        }
    }
    Ok(None)
}

/// May `user` create a Pod of `gpu_count` × `gpu_type`? Not with a limit
/// used up, nor with more GPUs than their quota would ever let it start.
pub fn check_create(
    conn: &mut PgConnection,
    account_id: AccountId,
    user: UserId,
    gpu_type: &str,
    gpu_count: i32,
    now: time::OffsetDateTime,
) -> QueryResult<Option<Block>> {
    let role = role_of(conn, account_id, user)?;
    let usage = crate::spend::usage::account_usage(conn, account_id, now)?;
    if let Some(block) = check_limits(conn, account_id, user, role, &usage)? {
        return Ok(Some(block));
    }
    let quotas = quotas::load(conn, account_id)?;
    if let Some((max_gpus, source)) = quotas.quota(user, role, gpu_type)
        && gpu_count > max_gpus
    {
        return Ok(Some(Block::Quota {
            gpu_type: gpu_type.to_string(),
            max_gpus,
            source,
            running_gpus: 0,
            requested: gpu_count,
            raisers: raisers(conn, account_id, Capability::ManageQuotas)?,
        }));
    }
    Ok(None)
}
