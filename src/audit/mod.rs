//! The audit log's core. Every change of state records its entry inside
//! the change's own transaction (`Change::record`), so nothing happens
//! without its entry and no entry exists without its change. The table
//! itself refuses UPDATE, DELETE and TRUNCATE.

pub mod action;
pub mod chain;
pub mod export;
pub mod filter;
pub mod pages;
pub mod query;
pub mod retention;
pub mod sentence;

use diesel::prelude::*;
use time::OffsetDateTime;

pub use action::{
    Action, ActionKind, RESOURCE_TYPES, SignInFailure, SpendLimitKind, Stage, StopReason,
};

use crate::ids::{AccountId, UserId};

/// Where a request came from, as entries record it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who did it, as known at the time (the email is copied: it may change).
#[derive(Debug, Clone)]
pub struct Actor {
    /// None for a sign-in attempt with an unknown or wrong email.
    pub id: Option<UserId>,
    pub email: String,
    /// Their display name then, for the log's sentences.
    pub name: Option<String>,
}

/// How entries name the console itself, for what no person did (the
/// spend sweep's stops and alerts): no user id, this email and this name.
pub const SYSTEM_EMAIL: &str = "system";
pub const SYSTEM_NAME: &str = "Team Console";

impl Actor {
    /// The console itself.
    pub fn system() -> Actor {
        Actor {
            id: None,
            email: SYSTEM_EMAIL.to_string(),
            name: Some(SYSTEM_NAME.to_string()),
        }
    }

    pub fn user(id: UserId, email: &str, name: &str) -> Actor {
        Actor {
            id: Some(id),
            email: email.to_string(),
            name: Some(name.to_string()),
        }
    }
}

/// One change of an account: who makes it, from where, and when. Core
/// functions take it and record their entries through it.
#[derive(Debug, Clone)]
pub struct Change {
    pub account_id: AccountId,
    pub actor: Actor,
    pub origin: Origin,
    pub now: OffsetDateTime,
}

impl Change {
    /// A change the console makes on its own in `account_id` (no request:
    /// no IP, no user agent).
    pub fn system(account_id: AccountId, now: OffsetDateTime) -> Change {
        Change {
            account_id,
            actor: Actor::system(),
            origin: Origin::default(),
            now,
        }
    }

    /// Appends `action` to this account's log (call it inside the change's
    /// transaction).
    pub fn record(&self, conn: &mut PgConnection, action: Action) -> QueryResult<()> {
        record(
            conn,
            Some(self.account_id),
            Some(&self.actor),
            &self.origin,
            action,
        )
    }

    /// Appends every entry of `entries`, each in its account's chain, with
    /// this change's actor and origin, in order (call it inside the
    /// change's transaction). For changes of many things at once: the
    /// spend sweep stops Pods in many accounts.
    pub fn record_all(
        &self,
        conn: &mut PgConnection,
        entries: Vec<(AccountId, Action)>,
    ) -> QueryResult<()> {
        for (account_id, action) in entries {
            record(
                conn,
                Some(account_id),
                Some(&self.actor),
                &self.origin,
                action,
            )?;
        }
        Ok(())
    }

    /// The same actor, origin and time, in another account.
    pub fn in_account(&self, account_id: AccountId) -> Change {
        Change {
            account_id,
            ..self.clone()
        }
    }
}

/// A change a person makes to their own user (name, email, password,
/// two-factor, sessions): its entry goes to their personal account's log,
/// or to no account's when they converted it into a team.
#[derive(Debug, Clone)]
pub struct PersonalChange {
    pub user: UserId,
    pub actor: Actor,
    pub origin: Origin,
    pub now: OffsetDateTime,
}

impl PersonalChange {
    /// Appends `action` to the person's own log (inside the change's
    /// transaction).
    pub fn record(&self, conn: &mut PgConnection, action: Action) -> QueryResult<()> {
        let log = crate::accounts::models::personal_account(conn, self.user)?;
        record(conn, log, Some(&self.actor), &self.origin, action)
    }
}

/// Appends one entry to its chain (`chain::append`); `account_id` is None
/// for what belongs to no account (signing in and out).
pub fn record(
    conn: &mut PgConnection,
    account_id: Option<AccountId>,
    actor: Option<&Actor>,
    origin: &Origin,
    action: Action,
) -> QueryResult<()> {
    let name = action.kind().name();
    chain::append(conn, account_id, actor, origin, action)?;
    metrics::counter!(crate::telemetry::AUDIT_ENTRIES, "action" => name).increment(1);
    Ok(())
}
