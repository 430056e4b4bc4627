//! Joining a team from an invite, atomically: the invite is consumed by one
//! conditional UPDATE (pending, not revoked, not expired), the membership
//! is inserted, and `invite.accepted` + `member.joined` are audited, in one
//! transaction. Of many people racing for one link exactly one joins.
//! Refusals are audited too (`invite.accept_failed` with the reason).

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::models::User;
use crate::audit::{self, Actor};
use crate::authz::Role;
use crate::db::schema::{invites, memberships};
use crate::invites::{Invite, Unusable};
use crate::web::client::ClientInfo;
use crate::web::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No invite has this link (mistyped, replaced by a new link).
    Unknown,
    Unusable(Unusable),
    /// The invite is for another email address.
    WrongEmail,
    /// Already in the team: the invite is left for someone else.
    AlreadyMember,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown",
            Refusal::Unusable(u) => u.reason(),
            Refusal::WrongEmail => "email_mismatch",
            Refusal::AlreadyMember => "already_member",
        }
    }
}

pub struct Joined {
    pub account_id: Uuid,
    pub role: Role,
}

enum Failure {
    Refused(Refusal, Option<Uuid>, Option<Uuid>),
    Db(AppError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Db(e.into())
    }
}

pub fn find_by_hash(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<Invite>> {
    invites::table
        .filter(invites::token_hash.eq(token_hash))
        .select(Invite::as_select())
        .first(conn)
        .optional()
}

/// Joins `user` to the invite's team, or says why not (and audits that).
pub fn accept(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user: &User,
    client: &ClientInfo,
) -> AppResult<Result<Joined, Refusal>> {
    let actor = Actor::user(user.id, &user.email);
    let result = conn.transaction(|conn| -> Result<Joined, Failure> {
        let now = OffsetDateTime::now_utc();
        let invite = find_by_hash(conn, token_hash)?.ok_or(Failure::Refused(Refusal::Unknown, None, None))?;
        let refuse = |r| Failure::Refused(r, Some(invite.account_id), Some(invite.id));
        if let Some(why) = invite.unusable(now) {
            return Err(refuse(Refusal::Unusable(why)));
        }
        if invite
            .email
            .as_deref()
            .is_some_and(|e| !e.eq_ignore_ascii_case(&user.email))
        {
            return Err(refuse(Refusal::WrongEmail));
        }
        let member: i64 = memberships::table
            .filter(memberships::account_id.eq(invite.account_id))
            .filter(memberships::user_id.eq(user.id))
            .count()
            .get_result(conn)?;
        if member > 0 {
            return Err(refuse(Refusal::AlreadyMember));
        }
        // The one conditional update that consumes the invite: concurrent
        // accepts wait on the row lock and then find it used.
        let consumed: Option<(Uuid, String)> = diesel::update(
            invites::table
                .filter(invites::id.eq(invite.id))
                .filter(invites::token_hash.eq(token_hash))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .filter(invites::expires_at.gt(now)),
        )
        .set((invites::accepted_at.eq(now), invites::accepted_by.eq(user.id)))
        .returning((invites::account_id, invites::role))
        .get_result(conn)
        .optional()?;
        let Some((account_id, role)) = consumed else {
            let again = find_by_hash(conn, token_hash)?;
            let why = again
                .and_then(|i| i.unusable(OffsetDateTime::now_utc()))
                .unwrap_or(Unusable::Used);
            return Err(refuse(Refusal::Unusable(why)));
        };
        let inserted = diesel::insert_into(memberships::table)
            .values((
                memberships::account_id.eq(account_id),
                memberships::user_id.eq(user.id),
                memberships::role.eq(&role),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 0 {
            // Joined through another invite meanwhile: roll the consumption back.
            return Err(refuse(Refusal::AlreadyMember));
        }
        for (action, resource_type, resource_id) in [
            ("invite.accepted", "invite", invite.id),
            ("member.joined", "member", user.id),
        ] {
            audit::record(
                conn,
                audit::Entry {
                    account_id: Some(account_id),
                    actor: Some(&actor),
                    action,
                    resource_type,
                    resource_id: Some(resource_id.to_string()),
                    client,
                    details: json!({ "role": role, "invite_id": invite.id, "invited_by": invite.created_by }),
                },
            )?;
        }
        Ok(Joined {
            account_id,
            role: Role::parse(&role).unwrap_or(Role::Basic),
        })
    });
    match result {
        Ok(joined) => Ok(Ok(joined)),
        Err(Failure::Db(e)) => Err(e),
        Err(Failure::Refused(refusal, account_id, invite_id)) => {
            audit::record(
                conn,
                audit::Entry {
                    account_id,
                    actor: Some(&actor),
                    action: "invite.accept_failed",
                    resource_type: "invite",
                    resource_id: invite_id.map(|id| id.to_string()),
                    client,
                    details: json!({ "reason": refusal.reason() }),
                },
            )?;
            Ok(Err(refusal))
        }
    }
}
