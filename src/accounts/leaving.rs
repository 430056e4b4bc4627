//! Leaving for good (SPEC §13): deleting a team (or a personal account),
//! turning a team with one member back into a personal account, deleting
//! one's user.
//!
//! Deletion is soft: the account row stays (with `deleted_at`), so its
//! Pods, transactions, invites and audit entries keep what they refer to
//! and its audit chain stays whole; its memberships go, so it leaves every
//! switcher and every `Member<C>` lookup at once. Each function is one
//! transaction that first locks the account row (SELECT … FOR UPDATE,
//! after its live Pods, in the order Pod transitions lock them): joining
//! through an invite and creating a Pod take a share of that lock
//! (`hold_live_account`), so they happen wholly before a deletion or are
//! refused after it.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::accounts::AccountsError;
use crate::accounts::models::{Account, User};
use crate::audit::{self, Action, Change, PersonalChange};
use crate::authz::{AccountKind, Role};
use crate::db::schema::{
    accounts, invites, known_devices, memberships, password_resets, pods, recovery_codes, sessions,
    users,
};
use crate::ids::{AccountId, InviteId, PodId, UserId};

/// The account, locked (FOR UPDATE) until the transaction ends, unless it
/// is deleted (diesel's NotFound, a 404): what deleting or reverting it
/// takes first.
pub fn lock_live_account(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Account> {
    accounts::table
        .find(account_id)
        .filter(accounts::deleted_at.is_null())
        .select(Account::as_select())
        .for_update()
        .first(conn)
}

/// What adds to an account (a member joining, a Pod created) takes first:
/// a share of the account row's lock (FOR KEY SHARE) that waits for a
/// deletion in progress and makes a deletion wait for it, while such
/// additions do not wait for each other. NotFound (a 404) once the
/// account is deleted: PostgreSQL re-checks `deleted_at` on the row a
/// deletion committed.
pub fn hold_live_account(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<()> {
    accounts::table
        .find(account_id)
        .filter(accounts::deleted_at.is_null())
        .select(accounts::id)
        .for_key_share()
        .first::<AccountId>(conn)
        .map(|_| ())
}

/// Locks the account's Pods that are not terminated, before the account:
/// the order every Pod transition and the spend sweep take (Pod, then
/// account), so a deletion cannot deadlock with them.
fn lock_live_pods(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Vec<PodId>> {
    pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::status.ne(crate::pods::TERMINATED))
        .order(pods::id.asc())
        .select(pods::id)
        .for_update()
        .load(conn)
}

/// What deleting the account would do, for its danger zone.
#[derive(Debug, Clone, Default)]
pub struct Consequences {
    pub running_pods: i64,
    /// Pods not yet terminated, running ones included.
    pub pods: i64,
    pub pending_invites: i64,
    /// Members besides the one deleting it.
    pub other_members: i64,
    pub balance_cents: i64,
    /// What the running Pods would be charged if stopped now.
    pub accrued_cents: i64,
}

pub fn consequences(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: OffsetDateTime,
) -> QueryResult<Consequences> {
    let live: Vec<crate::pods::Pod> = pods::table
        .filter(pods::account_id.eq(account_id))
        .filter(pods::status.ne(crate::pods::TERMINATED))
        .select(crate::pods::Pod::as_select())
        .load(conn)?;
    let pending_invites: i64 = invites::table
        .filter(invites::account_id.eq(account_id))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    let members: i64 = memberships::table
        .filter(memberships::account_id.eq(account_id))
        .count()
        .get_result(conn)?;
    let balance_cents = accounts::table
        .find(account_id)
        .select(accounts::balance_cents)
        .first(conn)?;
    Ok(Consequences {
        running_pods: live.iter().filter(|p| p.is_running()).count() as i64,
        pods: live.len() as i64,
        pending_invites,
        other_members: (members - 1).max(0),
        balance_cents,
        accrued_cents: live.iter().map(|p| p.accrued_cents(now)).sum(),
    })
}

/// What a deletion did.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub name: String,
    pub pods_terminated: i64,
    pub charged_cents: i64,
    pub invites_revoked: i64,
    pub members_removed: i64,
    pub balance_cents: i64,
}

/// Deletes `cx`'s team once its Admin has typed its name exactly.
pub fn delete_team(
    conn: &mut PgConnection,
    cx: &Change,
    typed_name: &str,
) -> Result<Deleted, AccountsError> {
    conn.transaction(|conn| {
        lock_live_pods(conn, cx.account_id)?;
        let account = lock_live_account(conn, cx.account_id)?;
        if account.kind != AccountKind::Team {
            return Err(AccountsError::NotATeam);
        }
        if typed_name.trim() != account.name {
            return Err(AccountsError::NameMismatch);
        }
        delete_locked(conn, cx, account)
    })
}

/// Deletes the locked, live `account`: its Pods are terminated (a running
/// one stopped and charged once, by the pods core), its pending invites
/// revoked, its members removed; its last entry says who deleted it.
fn delete_locked(
    conn: &mut PgConnection,
    cx: &Change,
    account: Account,
) -> Result<Deleted, AccountsError> {
    // Again under the account's lock: a Pod created just before it counts.
    let live = lock_live_pods(conn, account.id)?;
    let mut charged_cents = 0;
    for pod in &live {
        match crate::pods::transitions::terminate(conn, cx, *pod) {
            Ok(outcome) => charged_cents += outcome.charged_cents,
            Err(crate::pods::PodsError::Db(e)) => return Err(e.into()),
            // Terminated meanwhile: nothing left to do for it.
            Err(_) => {}
        }
    }
    let pending: Vec<InviteId> = invites::table
        .filter(invites::account_id.eq(account.id))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::expires_at.gt(cx.now))
        .order(invites::id.asc())
        .select(invites::id)
        .load(conn)?;
    for invite in &pending {
        match crate::invites::revoke(conn, cx, *invite) {
            Ok(()) => {}
            Err(crate::invites::InvitesError::Db(e)) => return Err(e.into()),
            Err(_) => {}
        }
    }
    let members = diesel::delete(memberships::table.filter(memberships::account_id.eq(account.id)))
        .execute(conn)? as i64;
    let balance_cents: i64 = diesel::update(accounts::table.find(account.id))
        .set(accounts::deleted_at.eq(cx.now))
        .returning(accounts::balance_cents)
        .get_result(conn)?;
    let kind = if account.kind == AccountKind::Team {
        "team"
    } else {
        "personal"
    };
    let deleted = Deleted {
        name: account.name.clone(),
        pods_terminated: live.len() as i64,
        charged_cents,
        invites_revoked: pending.len() as i64,
        members_removed: (members - 1).max(0),
        balance_cents,
    };
    cx.record(
        conn,
        Action::AccountDeleted {
            account: account.id,
            name: account.name,
            kind: kind.to_string(),
            pods_terminated: deleted.pods_terminated,
            invites_revoked: deleted.invites_revoked,
            members_removed: deleted.members_removed,
            balance_cents,
        },
    )?;
    Ok(deleted)
}

/// Turns `cx`'s team back into its acting Admin's personal account, when
/// they are its only member and have no personal account already (SPEC §1:
/// one each). Pending invites are revoked: a personal account cannot
/// invite. The account takes its owner's name, as personal accounts do.
pub fn revert_to_personal(conn: &mut PgConnection, cx: &Change) -> Result<(), AccountsError> {
    conn.transaction(|conn| {
        let account = lock_live_account(conn, cx.account_id)?;
        if account.kind != AccountKind::Team {
            return Err(AccountsError::NotATeam);
        }
        let me = cx.actor.id.ok_or(diesel::result::Error::NotFound)?;
        let members: Vec<UserId> = memberships::table
            .filter(memberships::account_id.eq(account.id))
            .select(memberships::user_id)
            .for_update()
            .load(conn)?;
        if members != [me] {
            return Err(AccountsError::NotAlone);
        }
        // The user row's lock serialises two reverts (or a revert and a
        // deletion) of the same person.
        let owner_name: String = users::table
            .find(me)
            .select(users::display_name)
            .for_update()
            .first(conn)?;
        if crate::accounts::models::personal_account(conn, me)?.is_some() {
            return Err(AccountsError::HasPersonal);
        }
        let pending: Vec<InviteId> = invites::table
            .filter(invites::account_id.eq(account.id))
            .filter(invites::accepted_at.is_null())
            .filter(invites::revoked_at.is_null())
            .filter(invites::expires_at.gt(cx.now))
            .select(invites::id)
            .load(conn)?;
        for invite in pending {
            match crate::invites::revoke(conn, cx, invite) {
                Ok(()) => {}
                Err(crate::invites::InvitesError::Db(e)) => return Err(e.into()),
                Err(_) => {}
            }
        }
        diesel::update(accounts::table.find(account.id))
            .set((
                accounts::kind.eq(AccountKind::Personal),
                accounts::owner_id.eq(me),
                accounts::name.eq(&owner_name),
                accounts::require_two_factor.eq(false),
            ))
            .execute(conn)?;
        cx.record(
            conn,
            Action::AccountReverted {
                account: account.id,
                old_name: account.name,
                name: owner_name,
            },
        )?;
        Ok(())
    })
}

/// A team the person is the last Admin of: they must hand over Admin or
/// delete it before they can delete their user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAdminOf {
    pub account_id: AccountId,
    pub name: String,
}

/// The live teams `user` is the only Admin of.
pub fn last_admin_of(conn: &mut PgConnection, user: UserId) -> QueryResult<Vec<LastAdminOf>> {
    let (admins, mine) = diesel::alias!(memberships as admins, memberships as mine);
    let teams: Vec<(AccountId, String)> = mine
        .inner_join(accounts::table.on(accounts::id.eq(mine.field(memberships::account_id))))
        .filter(mine.field(memberships::user_id).eq(user))
        .filter(mine.field(memberships::role).eq(Role::Admin))
        .filter(accounts::kind.eq(AccountKind::Team))
        .filter(accounts::deleted_at.is_null())
        .order((accounts::name.asc(), accounts::id.asc()))
        .select((accounts::id, accounts::name))
        .load(conn)?;
    let mut last = Vec::new();
    for (account_id, name) in teams {
        let count: i64 = admins
            .filter(admins.field(memberships::account_id).eq(account_id))
            .filter(admins.field(memberships::role).eq(Role::Admin))
            .count()
            .get_result(conn)?;
        if count == 1 {
            last.push(LastAdminOf { account_id, name });
        }
    }
    Ok(last)
}

/// What deleting a user did.
#[derive(Debug, Clone)]
pub struct UserDeleted {
    pub teams_left: i64,
    pub sessions_ended: i64,
}

/// Deletes the person's user: refused (naming the teams) while they are
/// the last Admin of one; otherwise they leave every team (a `member.left`
/// entry in each), their personal account is deleted as a team is, their
/// sessions and recovery codes end, and the user row becomes a tombstone
/// that keeps their name for history and frees their email.
pub fn delete_user(
    conn: &mut PgConnection,
    cx: &PersonalChange,
) -> Result<UserDeleted, AccountsError> {
    conn.transaction(|conn| {
        let user: User = users::table
            .find(cx.user)
            .filter(users::deleted_at.is_null())
            .select(User::as_select())
            .for_update()
            .first(conn)?;
        let last = last_admin_of(conn, user.id)?;
        if !last.is_empty() {
            return Err(AccountsError::LastAdmin(last));
        }
        let teams: Vec<(AccountId, Role)> = memberships::table
            .inner_join(accounts::table)
            .filter(memberships::user_id.eq(user.id))
            .filter(accounts::kind.eq(AccountKind::Team))
            .filter(accounts::deleted_at.is_null())
            .order(accounts::id.asc())
            .select((accounts::id, memberships::role))
            .load(conn)?;
        for (team, role) in &teams {
            // A concurrent deletion of the team goes wholly first or after.
            if hold_live_account(conn, *team).optional()?.is_none() {
                continue;
            }
            diesel::delete(memberships::table.find((*team, user.id))).execute(conn)?;
            audit::record(
                conn,
                Some(*team),
                Some(&cx.actor),
                &cx.origin,
                Action::MemberLeft {
                    member: user.id,
                    role: *role,
                },
            )?;
        }
        let sessions_ended = diesel::delete(sessions::table.filter(sessions::user_id.eq(user.id)))
            .execute(conn)? as i64;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.id)))
            .execute(conn)?;
        // What else the console holds about the person: the devices they
        // signed in from, and their password reset links.
        diesel::delete(known_devices::table.filter(known_devices::user_id.eq(user.id)))
            .execute(conn)?;
        diesel::delete(password_resets::table.filter(password_resets::user_id.eq(user.id)))
            .execute(conn)?;
        let personal = crate::accounts::models::personal_account(conn, user.id)?;
        if let Some(account_id) = personal {
            lock_live_pods(conn, account_id)?;
            let account = lock_live_account(conn, account_id)?;
            let change = Change {
                account_id,
                actor: cx.actor.clone(),
                origin: cx.origin.clone(),
                now: cx.now,
            };
            change.record(
                conn,
                Action::UserDeleted {
                    user: user.id,
                    display_name: user.display_name.clone(),
                    email: user.email.clone(),
                    teams_left: teams.len() as i64,
                    sessions_ended,
                },
            )?;
            delete_locked(conn, &change, account)?;
        } else {
            audit::record(
                conn,
                None,
                Some(&cx.actor),
                &cx.origin,
                Action::UserDeleted {
                    user: user.id,
                    display_name: user.display_name.clone(),
                    email: user.email.clone(),
                    teams_left: teams.len() as i64,
                    sessions_ended,
                },
            )?;
        }
        diesel::update(users::table.find(user.id))
            .set((
                users::email.eq(tombstone_email(user.id)),
                users::password_hash.eq(TOMBSTONE_PASSWORD),
                users::totp_secret.eq(None::<Vec<u8>>),
                users::totp_enabled_at.eq(None::<OffsetDateTime>),
                users::totp_last_step.eq(None::<i64>),
                users::deleted_at.eq(cx.now),
            ))
            .execute(conn)?;
        Ok(UserDeleted {
            teams_left: teams.len() as i64,
            sessions_ended,
        })
    })
}

/// Not a PHC string: no password ever verifies against it.
const TOMBSTONE_PASSWORD: &str = "!deleted";

/// An address nobody can sign up or in with (`.invalid` is reserved,
/// RFC 2606), unique per user, so the real one is free again.
fn tombstone_email(user: UserId) -> String {
    format!("deleted-{}@deleted.invalid", user.as_uuid().simple())
}
