//! Invite links: an Admin invites someone into a team with a role; the
//! link is a capability that is unguessable (256-bit HMAC), never stored
//! (only its hash and the HMAC's inputs are), single use, expiring and
//! revocable.

pub mod accept;
pub mod landing;
pub mod manage;
pub mod new;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::authz::Role;
use crate::db::schema::{accounts, invites, users};
use crate::tokens;
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};

/// At most this many pending invites per team.
pub const MAX_PENDING: i64 = 100;
pub const DEFAULT_LIFETIME_HOURS: i64 = 7 * 24;
pub const MIN_LIFETIME_HOURS: i64 = 1;
pub const MAX_LIFETIME_HOURS: i64 = 30 * 24;

/// Derives the key that signs invite links from the console's secret.
pub fn link_key(secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"team-console invite links v1");
    mac.finalize().into_bytes().to_vec()
}

/// The link's token: HMAC(link key, invite id ‖ nonce), base64url.
pub fn token(link_key: &[u8], id: Uuid, nonce: &[u8]) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(link_key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(nonce);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn new_nonce() -> Vec<u8> {
    use rand::RngCore;
    let mut nonce = vec![0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

/// The full link for a pending invite, from PUBLIC_URL.
pub fn link(public_url: &str, link_key: &[u8], id: Uuid, nonce: &[u8]) -> String {
    format!("{public_url}/invites/{}", token(link_key, id, nonce))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites)]
pub struct Invite {
    pub id: Uuid,
    pub account_id: Uuid,
    pub role: String,
    pub email: Option<String>,
    pub nonce: Vec<u8>,
    pub token_hash: Vec<u8>,
    pub created_by: Uuid,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub accepted_at: Option<OffsetDateTime>,
    pub accepted_by: Option<Uuid>,
}

impl Invite {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Basic)
    }

    /// Why the invite cannot be used any more, if it cannot.
    pub fn unusable(&self, now: OffsetDateTime) -> Option<Unusable> {
        if self.accepted_at.is_some() {
            Some(Unusable::Used)
        } else if self.revoked_at.is_some() {
            Some(Unusable::Revoked)
        } else if self.expires_at <= now {
            Some(Unusable::Expired)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Used,
    Revoked,
    Expired,
}

impl Unusable {
    pub fn reason(self) -> &'static str {
        match self {
            Unusable::Used => "used",
            Unusable::Revoked => "revoked",
            Unusable::Expired => "expired",
        }
    }

    /// The 410 page for this link.
    pub fn error(self) -> AppError {
        let (title, message) = match self {
            Unusable::Used => (
                "Invite already used",
                "This invite link has already been used. Ask a team Admin for a new invite.",
            ),
            Unusable::Revoked => (
                "Invite revoked",
                "This invite was revoked by a team Admin. Ask them for a new invite.",
            ),
            Unusable::Expired => (
                "Invite expired",
                "This invite link has expired. Ask a team Admin for a new invite.",
            ),
        };
        AppError::Gone {
            title: title.into(),
            message: message.into(),
        }
    }
}

/// A pending invite as the Team page lists it.
pub struct PendingInvite {
    pub id: Uuid,
    pub role: Role,
    pub email: Option<String>,
    pub created_by: String,
    pub expires_at: OffsetDateTime,
    pub link: String,
}

impl PendingInvite {
    pub fn expires_in(&self) -> String {
        crate::web::format::time_until(&self.expires_at)
    }

    pub fn expires_on(&self) -> String {
        crate::web::format::date_time(&self.expires_at)
    }
}

/// The team's pending (not used, revoked or expired) invites, newest first.
pub fn pending(
    conn: &mut PgConnection,
    account_id: Uuid,
    public_url: &str,
    link_key: &[u8],
) -> QueryResult<Vec<PendingInvite>> {
    let now = OffsetDateTime::now_utc();
    let rows: Vec<(Invite, String)> = invites::table
        .inner_join(users::table.on(users::id.eq(invites::created_by)))
        .filter(invites::account_id.eq(account_id))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::expires_at.gt(now))
        .order((invites::created_at.desc(), invites::id.desc()))
        .select((Invite::as_select(), users::display_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(invite, created_by)| PendingInvite {
            id: invite.id,
            role: invite.role(),
            email: invite.email.clone(),
            created_by,
            expires_at: invite.expires_at,
            link: link(public_url, link_key, invite.id, &invite.nonce),
        })
        .collect())
}

fn count_pending(conn: &mut PgConnection, account_id: Uuid) -> QueryResult<i64> {
    invites::table
        .filter(invites::account_id.eq(account_id))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::expires_at.gt(OffsetDateTime::now_utc()))
        .count()
        .get_result(conn)
}

pub struct NewInvite {
    pub role: Role,
    pub email: Option<String>,
    pub lifetime_hours: i64,
}

/// Creates an invite (audited). The account row is locked so the pending
/// limit holds under concurrent creation.
pub fn create(
    conn: &mut PgConnection,
    account_id: Uuid,
    new: &NewInvite,
    actor: &Actor,
    client: &ClientInfo,
    link_key: &[u8],
) -> AppResult<Uuid> {
    conn.transaction(|conn| {
        accounts::table
            .find(account_id)
            .select(accounts::id)
            .for_update()
            .first::<Uuid>(conn)?;
        if count_pending(conn, account_id)? >= MAX_PENDING {
            return Err(AppError::Conflict(format!(
                "This team already has {MAX_PENDING} pending invites. Revoke some before creating more."
            )));
        }
        let id = Uuid::new_v4();
        let nonce = new_nonce();
        let token_hash = tokens::sha256(&token(link_key, id, &nonce));
        let expires_at = OffsetDateTime::now_utc() + Duration::hours(new.lifetime_hours);
        diesel::insert_into(invites::table)
            .values((
                invites::id.eq(id),
                invites::account_id.eq(account_id),
                invites::role.eq(new.role.as_str()),
                invites::email.eq(new.email.as_deref()),
                invites::nonce.eq(&nonce),
                invites::token_hash.eq(&token_hash),
                invites::created_by.eq(actor.id.unwrap_or_default()),
                invites::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            audit::Entry {
                account_id: Some(account_id),
                actor: Some(actor),
                action: "invite.created",
                resource_type: "invite",
                resource_id: Some(id.to_string()),
                client,
                details: json!({
                    "role": new.role.as_str(),
                    "email": new.email,
                    "expires_at": crate::web::format::date_time(&expires_at),
                }),
            },
        )?;
        Ok(id)
    })
}

/// A pending invite of this account, locked for a change.
fn lock_pending(conn: &mut PgConnection, account_id: Uuid, invite_id: Uuid) -> AppResult<Invite> {
    let invite = invites::table
        .filter(invites::account_id.eq(account_id))
        .filter(invites::id.eq(invite_id))
        .select(Invite::as_select())
        .for_update()
        .first(conn)?;
    if let Some(why) = invite.unusable(OffsetDateTime::now_utc()) {
        return Err(AppError::Conflict(format!(
            "This invite is no longer pending: it was {}.",
            why.reason()
        )));
    }
    Ok(invite)
}

/// The audit entry of a change to a pending invite.
fn record_change(
    conn: &mut PgConnection,
    invite: &Invite,
    action: &str,
    actor: &Actor,
    client: &ClientInfo,
) -> QueryResult<()> {
    audit::record(
        conn,
        audit::Entry {
            account_id: Some(invite.account_id),
            actor: Some(actor),
            action,
            resource_type: "invite",
            resource_id: Some(invite.id.to_string()),
            client,
            details: json!({ "role": invite.role, "email": invite.email }),
        },
    )
}

/// Revokes a pending invite (audited).
pub fn revoke(
    conn: &mut PgConnection,
    account_id: Uuid,
    invite_id: Uuid,
    actor: &Actor,
    client: &ClientInfo,
) -> AppResult<()> {
    conn.transaction(|conn| {
        let invite = lock_pending(conn, account_id, invite_id)?;
        diesel::update(invites::table.find(invite.id))
            .set(invites::revoked_at.eq(OffsetDateTime::now_utc()))
            .execute(conn)?;
        record_change(conn, &invite, "invite.revoked", actor, client)?;
        Ok(())
    })
}

/// Issues a new link for a pending invite; the old link stops working.
pub fn regenerate(
    conn: &mut PgConnection,
    account_id: Uuid,
    invite_id: Uuid,
    actor: &Actor,
    client: &ClientInfo,
    link_key: &[u8],
) -> AppResult<()> {
    conn.transaction(|conn| {
        let invite = lock_pending(conn, account_id, invite_id)?;
        let nonce = new_nonce();
        let token_hash = tokens::sha256(&token(link_key, invite.id, &nonce));
        diesel::update(invites::table.find(invite.id))
            .set((
                invites::nonce.eq(&nonce),
                invites::token_hash.eq(&token_hash),
            ))
            .execute(conn)?;
        record_change(conn, &invite, "invite.regenerated", actor, client)?;
        Ok(())
    })
}
