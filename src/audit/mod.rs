//! The audit log. `record` is called inside the transaction of every change
//! of state, so nothing happens without its entry and no entry exists
//! without its change. The table itself refuses UPDATE, DELETE and TRUNCATE.

pub mod export;
pub mod filter;
pub mod page;
pub mod query;

use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::db::schema::audit_entries;
use crate::web::client::ClientInfo;

/// Every action an account's log can hold, for the filter's select (and
/// to refuse unknown ones). Sign-ins and sign-outs belong to no account.
pub const ACTIONS: &[&str] = &[
    "account.converted",
    "account.renamed",
    "billing.email_changed",
    "billing.funds_added",
    "billing.usage_charged",
    "invite.accept_failed",
    "invite.accepted",
    "invite.created",
    "invite.regenerated",
    "invite.revoked",
    "member.joined",
    "member.left",
    "member.removed",
    "member.role_changed",
    "pod.created",
    "pod.started",
    "pod.stopped",
    "pod.terminated",
    "user.signed_up",
];

/// Every resource type entries refer to.
pub const RESOURCE_TYPES: &[&str] = &["account", "billing", "invite", "member", "pod", "user"];

/// Who did it, as known at the time (the email is copied: it may change).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub email: String,
}

impl Actor {
    pub fn user(id: Uuid, email: &str) -> Actor {
        Actor {
            id: Some(id),
            email: email.to_string(),
        }
    }
}

/// One entry to append.
pub struct Entry<'a> {
    pub account_id: Option<Uuid>,
    pub actor: Option<&'a Actor>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<String>,
    pub client: &'a ClientInfo,
    pub details: Value,
}

pub fn record(conn: &mut PgConnection, entry: Entry<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_entries::table)
        .values((
            audit_entries::account_id.eq(entry.account_id),
            audit_entries::actor_id.eq(entry.actor.and_then(|a| a.id)),
            audit_entries::actor_email.eq(entry.actor.map(|a| a.email.as_str())),
            audit_entries::action.eq(entry.action),
            audit_entries::resource_type.eq(entry.resource_type),
            audit_entries::resource_id.eq(entry.resource_id),
            audit_entries::ip.eq(entry.client.ip.as_deref()),
            audit_entries::user_agent.eq(entry.client.user_agent.as_deref()),
            audit_entries::details.eq(entry.details),
        ))
        .execute(conn)?;
    Ok(())
}
