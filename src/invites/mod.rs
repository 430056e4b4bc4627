//! Invite links (the core; `pages` holds what the invitee sees). An Admin
//! invites someone into a team with a role; the link is a capability that
//! is unguessable (256-bit HMAC), never stored (only its hash and the
//! HMAC's inputs are), single use, expiring and revocable. `accept` is the
//! joining side.

pub mod accept;
pub mod pages;

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use crate::audit::{Action, Change};
use crate::authz::Role;
use crate::db::schema::{accounts, invites, users};
use crate::ids::{AccountId, InviteId, UserId};
use crate::tokens;

/// At most this many pending invites per team.
pub const MAX_PENDING: i64 = 100;
pub const DEFAULT_LIFETIME_HOURS: i64 = 7 * 24;
pub const MIN_LIFETIME_HOURS: i64 = 1;
pub const MAX_LIFETIME_HOURS: i64 = 30 * 24;
/// A pending invite older than this is marked stale on the Team page.
pub const STALE_AFTER: Duration = Duration::days(7);

/// What the invites core refuses when an Admin manages invites.
#[derive(Debug, thiserror::Error)]
pub enum InvitesError {
    #[error("the team has too many pending invites")]
    TooManyPending,
    #[error("the invite is no longer pending")]
    NotPending(Unusable),
    /// Resending needs an email the invite was made for.
    #[error("the invite has no email")]
    NoEmail,
    /// The invite's email is a member's already (by the name shown).
    #[error("the email is a member's already")]
    AlreadyMember { name: String },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(InvitesError);

diesel::define_sql_function! {
    /// PostgreSQL's lower(), for case-insensitive email comparison.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Makes the links of invites: the console's public URL and the key that
/// signs them (derived from the secret key).
#[derive(Clone)]
pub struct Links {
    public_url: String,
    key: Vec<u8>,
}

impl Links {
    pub fn new(public_url: &str, secret: &[u8]) -> Links {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"team-console invite links v1");
        Links {
            public_url: public_url.to_string(),
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    /// The link's token: HMAC(link key, invite id ‖ nonce), base64url.
    pub fn token(&self, id: InviteId, nonce: &[u8]) -> String {
        use base64::Engine;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_uuid().as_bytes());
        mac.update(nonce);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The full link for a pending invite.
    pub fn link(&self, id: InviteId, nonce: &[u8]) -> String {
        format!("{}/invites/{}", self.public_url, self.token(id, nonce))
    }
}

/// Queues the invite's email to the address it was made for: the link,
/// the team, who invites and with which role. The link is derived again
/// from the stored nonce (it is an HMAC), so the mail carries the same
/// link the Team page lets the Admin copy.
fn queue_invite_mail(
    conn: &mut PgConnection,
    cx: &Change,
    invite: &Invite,
    to: &str,
    links: &Links,
    outbox: &crate::mail::Outbox,
) -> QueryResult<()> {
    let team = crate::accounts::models::account_name(conn, cx.account_id)?;
    let inviter = cx.actor.name.as_deref().unwrap_or(&cx.actor.email);
    let letter = crate::mail::letters::Invite {
        team: &team,
        inviter,
        role: invite.role.label(),
        link: &links.link(invite.id, &invite.nonce),
        expires: &crate::format::date_time(&invite.expires_at),
    }
    .letter(to);
    outbox.queue(conn, &letter, cx.now).map(|_| ())
}

fn new_nonce() -> Vec<u8> {
    use rand::RngCore;
    let mut nonce = vec![0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites)]
pub struct Invite {
    pub id: InviteId,
    pub account_id: AccountId,
    pub role: Role,
    pub email: Option<String>,
    pub nonce: Vec<u8>,
    pub token_hash: Vec<u8>,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub accepted_at: Option<OffsetDateTime>,
    pub accepted_by: Option<UserId>,
}

impl Invite {
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
}

/// A pending invite as the Team page lists it.
pub struct PendingInvite {
    pub id: InviteId,
    pub role: Role,
    pub email: Option<String>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub link: String,
    /// When the list was made, for "expires in …".
    pub now: OffsetDateTime,
}

impl PendingInvite {
    pub fn expires_in(&self) -> String {
        crate::format::time_until(&self.expires_at, self.now)
    }

    pub fn expires_on(&self) -> String {
        crate::format::date_time(&self.expires_at)
    }

    /// Pending for over `STALE_AFTER`: worth revoking or chasing.
    pub fn stale(&self) -> bool {
        self.now - self.created_at > STALE_AFTER
    }

    pub fn created_ago(&self) -> String {
        crate::format::time_ago(&self.created_at, self.now)
    }
}

/// The team's pending (not used, revoked or expired) invites, newest first.
pub fn pending(
    conn: &mut PgConnection,
    account_id: AccountId,
    links: &Links,
    now: OffsetDateTime,
) -> QueryResult<Vec<PendingInvite>> {
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
            role: invite.role,
            email: invite.email.clone(),
            created_by,
            created_at: invite.created_at,
            expires_at: invite.expires_at,
            link: links.link(invite.id, &invite.nonce),
            now,
        })
        .collect())
}

fn count_pending(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: OffsetDateTime,
) -> QueryResult<i64> {
    invites::table
        .filter(invites::account_id.eq(account_id))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::expires_at.gt(now))
        .count()
        .get_result(conn)
}

/// One invite of the account (diesel's NotFound, a 404, for another
/// account's).
pub fn find(
    conn: &mut PgConnection,
    account_id: AccountId,
    invite_id: InviteId,
) -> QueryResult<Invite> {
    invites::table
        .filter(invites::account_id.eq(account_id))
        .filter(invites::id.eq(invite_id))
        .select(Invite::as_select())
        .first(conn)
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
    cx: &Change,
    new: &NewInvite,
    links: &Links,
    outbox: &crate::mail::Outbox,
) -> Result<InviteId, InvitesError> {
    conn.transaction(|conn| {
        accounts::table
            .find(cx.account_id)
            .select(accounts::id)
            .for_update()
            .first::<AccountId>(conn)?;
        if count_pending(conn, cx.account_id, cx.now)? >= MAX_PENDING {
            return Err(InvitesError::TooManyPending);
        }
        if let Some(email) = new.email.as_deref() {
            use crate::db::schema::memberships;
            let member: Option<String> = memberships::table
                .inner_join(users::table)
                .filter(memberships::account_id.eq(cx.account_id))
                .filter(lower(users::email).eq(lower(email)))
                .select(users::display_name)
                .first(conn)
                .optional()?;
            if let Some(name) = member {
                return Err(InvitesError::AlreadyMember { name });
            }
        }
        let created_by = cx.actor.id.ok_or(diesel::result::Error::NotFound)?;
        let id = InviteId::new();
        let nonce = new_nonce();
        let token_hash = tokens::sha256(&links.token(id, &nonce));
        let expires_at = cx.now + Duration::hours(new.lifetime_hours);
        diesel::insert_into(invites::table)
            .values((
                invites::id.eq(id),
                invites::account_id.eq(cx.account_id),
                invites::role.eq(new.role),
                invites::email.eq(new.email.as_deref()),
                invites::nonce.eq(&nonce),
                invites::token_hash.eq(&token_hash),
                invites::created_by.eq(created_by),
                invites::created_at.eq(cx.now),
                invites::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        cx.record(
            conn,
            Action::InviteCreated {
                invite: id,
                role: new.role,
                email: new.email.clone(),
                expires_at: crate::format::date_time(&expires_at),
            },
        )?;
        if let Some(email) = &new.email {
            let invite = invites::table
                .find(id)
                .select(Invite::as_select())
                .first(conn)?;
            queue_invite_mail(conn, cx, &invite, email, links, outbox)?;
        }
        Ok(id)
    })
}

/// A pending invite of this account, locked for a change.
fn lock_pending(
    conn: &mut PgConnection,
    cx: &Change,
    invite_id: InviteId,
) -> Result<Invite, InvitesError> {
    let invite = invites::table
        .filter(invites::account_id.eq(cx.account_id))
        .filter(invites::id.eq(invite_id))
        .select(Invite::as_select())
        .for_update()
        .first(conn)?;
    match invite.unusable(cx.now) {
        Some(why) => Err(InvitesError::NotPending(why)),
        None => Ok(invite),
    }
}

/// Revokes a pending invite (audited).
pub fn revoke(
    conn: &mut PgConnection,
    cx: &Change,
    invite_id: InviteId,
) -> Result<(), InvitesError> {
    conn.transaction(|conn| {
        let invite = lock_pending(conn, cx, invite_id)?;
        diesel::update(invites::table.find(invite.id))
            .set(invites::revoked_at.eq(cx.now))
            .execute(conn)?;
        cx.record(
            conn,
            Action::InviteRevoked {
                invite: invite.id,
                role: invite.role,
                email: invite.email,
            },
        )?;
        Ok(())
    })
}

/// Sends the invite's email again (the same link, which stays valid), to
/// the email it was made for (audited). Returns that email.
pub fn resend(
    conn: &mut PgConnection,
    cx: &Change,
    invite_id: InviteId,
    links: &Links,
    outbox: &crate::mail::Outbox,
) -> Result<String, InvitesError> {
    conn.transaction(|conn| {
        let invite = lock_pending(conn, cx, invite_id)?;
        let Some(email) = invite.email.clone() else {
            return Err(InvitesError::NoEmail);
        };
        queue_invite_mail(conn, cx, &invite, &email, links, outbox)?;
        cx.record(
            conn,
            Action::InviteResent {
                invite: invite.id,
                role: invite.role,
                email: invite.email.clone(),
            },
        )?;
        Ok(email)
    })
}

/// Issues a new link for a pending invite; the old link stops working.
pub fn regenerate(
    conn: &mut PgConnection,
    cx: &Change,
    invite_id: InviteId,
    links: &Links,
) -> Result<(), InvitesError> {
    conn.transaction(|conn| {
        let invite = lock_pending(conn, cx, invite_id)?;
        let nonce = new_nonce();
        let token_hash = tokens::sha256(&links.token(invite.id, &nonce));
        diesel::update(invites::table.find(invite.id))
            .set((
                invites::nonce.eq(&nonce),
                invites::token_hash.eq(&token_hash),
            ))
            .execute(conn)?;
        cx.record(
            conn,
            Action::InviteRegenerated {
                invite: invite.id,
                role: invite.role,
                email: invite.email,
            },
        )?;
        Ok(())
    })
}
