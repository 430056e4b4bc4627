//! Joining a team from an invite: the rules are decided here once, for
//! the landing page (what it offers) and for Join Team (what it does).
//!
//! Joining is atomic: the invite is consumed by one conditional UPDATE
//! (pending, not revoked, not expired), the membership is inserted, and
//! `invite.accepted` + `member.joined` are audited, in one transaction. Of
//! many people racing for one link exactly one joins. Refusals are audited
//! too (`invite.accept_failed` with the reason).

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::accounts::models::{self, User};
use crate::audit::{self, Action, Actor, Origin};
use crate::authz::Role;
use crate::db::schema::{accounts, invites, memberships};
use crate::ids::{AccountId, UserId};
use crate::invites::{Invite, Unusable};

/// Why someone cannot join from a link.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// No invite has this link (mistyped, replaced by a new link).
    #[error("no invite has this link")]
    Unknown,
    #[error("the invite is {}", .0.reason())]
    Unusable(Unusable),
    /// The invite is for another email address.
    #[error("the invite is for another email")]
    WrongEmail,
    /// Already in the team: the invite is left for someone else.
    #[error("already a member")]
    AlreadyMember,
    /// The team requires two-factor sign-in, which the person does not
    /// have yet: they set it up, then come back (the invite stays).
    #[error("the team requires two-factor sign-in")]
    TwoFactorRequired,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(JoinError);

impl JoinError {
    fn reason(&self) -> &'static str {
        match self {
            JoinError::Unknown => "unknown",
            JoinError::Unusable(u) => u.reason(),
            JoinError::WrongEmail => "email_mismatch",
            JoinError::AlreadyMember => "already_member",
            JoinError::TwoFactorRequired => "two_factor_required",
            JoinError::Db(_) => "error",
        }
    }
}

/// What the rule needs to know of the team and the person.
struct Standing {
    is_member: bool,
    /// The team requires two-factor sign-in.
    requires_two_factor: bool,
}

/// The rule, once: may `user` (a member of the team or not) join with
/// `invite` at `now`?
fn check(
    invite: &Invite,
    user: &User,
    standing: &Standing,
    now: OffsetDateTime,
) -> Result<(), JoinError> {
    if let Some(why) = invite.unusable(now) {
        return Err(JoinError::Unusable(why));
    }
    if invite
        .email
        .as_deref()
        .is_some_and(|e| !e.eq_ignore_ascii_case(&user.email))
    {
        return Err(JoinError::WrongEmail);
    }
    if standing.is_member {
        return Err(JoinError::AlreadyMember);
    }
    if standing.requires_two_factor && !user.has_two_factor() {
        return Err(JoinError::TwoFactorRequired);
    }
    Ok(())
}

pub fn find_by_hash(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<Invite>> {
    invites::table
        .filter(invites::token_hash.eq(token_hash))
        .select(Invite::as_select())
        .first(conn)
        .optional()
}

fn standing(
    conn: &mut PgConnection,
    account_id: AccountId,
    user_id: UserId,
) -> QueryResult<Standing> {
    let count: i64 = memberships::table
        .find((account_id, user_id))
        .count()
        .get_result(conn)?;
    let requires_two_factor = accounts::table
        .find(account_id)
        .select(accounts::require_two_factor)
        .first(conn)?;
    Ok(Standing {
        is_member: count > 0,
        requires_two_factor,
    })
}

/// An invite as its landing page shows it.
pub struct InviteView {
    pub invite: Invite,
    pub team_name: String,
    pub inviter: String,
}

/// What the landing page offers: the invite, and why `user` (when signed
/// in) could not join with it. An unusable or unknown link is the error.
pub fn examine(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user: Option<&User>,
    now: OffsetDateTime,
) -> Result<(InviteView, Option<JoinError>), JoinError> {
    let view = view(conn, token_hash)?;
    if let Some(why) = view.invite.unusable(now) {
        return Err(JoinError::Unusable(why));
    }
    let refusal = match user {
        Some(user) => {
            let standing = standing(conn, view.invite.account_id, user.id)?;
            check(&view.invite, user, &standing, now).err()
        }
        None => None,
    };
    Ok((view, refusal))
}

/// The invite with this link and the names it shows.
pub fn view(conn: &mut PgConnection, token_hash: &[u8]) -> Result<InviteView, JoinError> {
    let invite = find_by_hash(conn, token_hash)?.ok_or(JoinError::Unknown)?;
    let team_name = models::account_name(conn, invite.account_id)?;
    let inviter = models::display_name(conn, invite.created_by)?;
    Ok(InviteView {
        invite,
        team_name,
        inviter,
    })
}

pub struct Joined {
    pub account_id: AccountId,
    pub team_name: String,
    pub role: Role,
}

/// Joins `user` to the invite's team, or says why not (and audits that).
pub fn accept(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user: &User,
    origin: &Origin,
    now: OffsetDateTime,
) -> Result<Joined, JoinError> {
    let actor = Actor::user(user.id, &user.email, &user.display_name);
    let found = find_by_hash(conn, token_hash)?;
    let result = conn.transaction(|conn| -> Result<Joined, JoinError> {
        let invite = found.as_ref().ok_or(JoinError::Unknown)?;
        // The team's row lock: a deletion of the team runs wholly before
        // this join (and revoked the invite) or after it (and removes the
        // new member with the others).
        if crate::accounts::leaving::hold_live_account(conn, invite.account_id)
            .optional()?
            .is_none()
        {
            return Err(JoinError::Unusable(Unusable::Revoked));
        }
        let standing = standing(conn, invite.account_id, user.id)?;
        check(invite, user, &standing, now)?;
        // The one conditional update that consumes the invite: concurrent
        // accepts wait on the row lock and then find it used.
        let consumed: Option<(AccountId, Role)> = diesel::update(
            invites::table
                .filter(invites::id.eq(invite.id))
                .filter(invites::token_hash.eq(token_hash))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .filter(invites::expires_at.gt(now)),
        )
        .set((
            invites::accepted_at.eq(now),
            invites::accepted_by.eq(user.id),
        ))
        .returning((invites::account_id, invites::role))
        .get_result(conn)
        .optional()?;
        let Some((account_id, role)) = consumed else {
            let why = find_by_hash(conn, token_hash)?
                .and_then(|i| i.unusable(now))
                .unwrap_or(Unusable::Used);
            return Err(JoinError::Unusable(why));
        };
        let inserted = diesel::insert_into(memberships::table)
            .values((
                memberships::account_id.eq(account_id),
                memberships::user_id.eq(user.id),
                memberships::role.eq(role),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 0 {
            // Joined through another invite meanwhile: roll the consumption back.
            return Err(JoinError::AlreadyMember);
        }
        let (invite_id, invited_by) = (invite.id, invite.created_by);
        let invited_by_name = models::display_name(conn, invited_by)?;
        for action in [
            Action::InviteAccepted {
                invite: invite_id,
                role,
                invite_id,
                invited_by,
                invited_by_name: invited_by_name.clone(),
            },
            Action::MemberJoined {
                member: user.id,
                role,
                invite_id,
                invited_by,
                invited_by_name: invited_by_name.clone(),
            },
        ] {
            audit::record(conn, Some(account_id), Some(&actor), origin, action)?;
        }
        Ok(Joined {
            account_id,
            team_name: models::account_name(conn, account_id)?,
            role,
        })
    });
    match result {
        Err(JoinError::Db(e)) => Err(JoinError::Db(e)),
        Err(refusal) => {
            audit::record(
                conn,
                found.as_ref().map(|i| i.account_id),
                Some(&actor),
                origin,
                Action::InviteAcceptFailed {
                    invite: found.as_ref().map(|i| i.id),
                    reason: refusal.reason(),
                },
            )?;
            Err(refusal)
        }
        ok => ok,
    }
}
