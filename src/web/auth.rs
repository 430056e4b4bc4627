//! Extractors for signed-in pages: `SignedIn` (a user and the accounts they
//! belong to, loaded fresh on each request) and `Member<C>` (the user's
//! membership of the account in the URL, refused unless its role has
//! capability `C`). Non-members get 404, so account ids leak nothing.

use std::marker::PhantomData;
use std::pin::Pin;

use crate::AppState;
use crate::accounts::models::{self, AccountMembership, User};
use crate::audit::{Actor, Change, Origin, PersonalChange};
use crate::authz::{self, AccountKind, Capability, Needs, Role};
use crate::ids::AccountId;
use crate::web::error::{AppError, AppResult};
use crate::web::layout::{AccountLink, Layout, Nav, UserBadge};
use crate::web::{session, session_store};
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use askama::Template;

pub struct SignedIn {
    pub user: User,
    pub accounts: Vec<AccountMembership>,
    pub session: Session,
}

impl SignedIn {
    /// The page layout, with `current` as the account shown in the header.
    pub fn layout(&self, current: Option<&AccountMembership>) -> AppResult<Layout> {
        let current_id = current.map(|m| m.account.id);
        Ok(Layout {
            csrf: session::csrf_token(&self.session)?,
            flashes: session::take_flashes(&self.session),
            user: Some(UserBadge {
                display_name: self.user.display_name.clone(),
                email: self.user.email.clone(),
            }),
            accounts: self
                .accounts
                .iter()
                .map(|m| AccountLink::new(m, Some(m.account.id) == current_id))
                .collect(),
            nav: current.map(Nav::for_membership),
        })
    }

    /// The context of a change the person makes to their own user now
    /// (recorded in their personal account's log).
    pub fn personal_change(&self, origin: Origin, now: time::OffsetDateTime) -> PersonalChange {
        PersonalChange {
            user: self.user.id,
            actor: Actor::user(self.user.id, &self.user.email, &self.user.display_name),
            origin,
            now,
        }
    }

    pub fn personal_account(&self) -> Option<&AccountMembership> {
        self.accounts
            .iter()
            .find(|m| m.account.owner_id == self.user.id && m.account.kind == AccountKind::Personal)
            .or(self.accounts.first())
    }
}

/// Where to come back to after signing in: this page, if it is one.
fn return_path(req: &HttpRequest) -> String {
    if req.method() == actix_web::http::Method::GET {
        req.uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    }
}

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let next = return_path(&req);
            let Some(user_id) = session::user_id(&session) else {
                return Err(AppError::SignInRequired { next });
            };
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("no app state")))?;
            // Usually loaded with the session already (same round trip).
            let found = match session_store::take_principal(user_id) {
                Some(principal) => Some(principal),
                None => {
                    state
                        .db(move |conn| models::user_with_memberships(conn, user_id))
                        .await?
                }
            };
            match found {
                Some((user, accounts)) => Ok(SignedIn {
                    user,
                    accounts,
                    session,
                }),
                None => {
                    session.purge();
                    Err(AppError::SignInRequired { next })
                }
            }
        })
    }
}

/// The signed-in user's membership of the account `{account_id}` in the
/// URL, allowed capability `C`.
pub struct Member<C> {
    pub signed_in: SignedIn,
    pub membership: AccountMembership,
    _capability: PhantomData<C>,
}

impl<C> Member<C> {
    pub fn account_id(&self) -> AccountId {
        self.membership.account.id
    }

    pub fn user(&self) -> &User {
        &self.signed_in.user
    }

    pub fn role(&self) -> Role {
        self.membership.role
    }

    pub fn can(&self, capability: Capability) -> bool {
        authz::allows(
            self.membership.account.kind,
            self.membership.role,
            capability,
        )
    }

    pub fn layout(&self) -> AppResult<Layout> {
        self.signed_in.layout(Some(&self.membership))
    }

    pub fn session(&self) -> &Session {
        &self.signed_in.session
    }

    /// The signed-in user as recorded in audit entries.
    pub fn actor(&self) -> Actor {
        Actor::user(
            self.signed_in.user.id,
            &self.signed_in.user.email,
            &self.signed_in.user.display_name,
        )
    }

    /// The context of a change this member makes to the account now.
    pub fn change(&self, origin: Origin, now: time::OffsetDateTime) -> Change {
        Change {
            account_id: self.account_id(),
            actor: self.actor(),
            origin,
            now,
        }
    }
}

impl<C: Needs + 'static> FromRequest for Member<C> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        let account_id = req
            .match_info()
            .get("account_id")
            .and_then(|id| id.parse::<AccountId>().ok());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let signed_in = signed_in.await?;
            let account_id = account_id.ok_or(AppError::NotFound)?;
            let membership = signed_in
                .accounts
                .iter()
                .find(|m| m.account.id == account_id)
                .cloned()
                .ok_or(AppError::NotFound)?;
            // Before the capability: a member the team's rule keeps out
            // learns nothing of it, not even what their role may do.
            if membership.account.require_two_factor && !signed_in.user.has_two_factor() {
                return Err(two_factor_gate(&signed_in, &membership)?);
            }
            if !authz::allows(membership.account.kind, membership.role, C::CAPABILITY) {
                return Err(AppError::NotPermitted(C::CAPABILITY));
            }
            if let Some(state) = state {
                note_activity(&state, &signed_in, &membership).await?;
            }
            Ok(Member {
                signed_in,
                membership,
                _capability: PhantomData,
            })
        })
    }
}

#[derive(Template)]
#[template(path = "accounts/two_factor_required.html")]
struct TwoFactorRequiredPage {
    layout: Layout,
    team_name: String,
}

/// What a member without two-factor sign-in sees of a team that requires
/// it, whatever page of it they ask for: a page asking them to set it up.
fn two_factor_gate(signed_in: &SignedIn, membership: &AccountMembership) -> AppResult<AppError> {
    let page = TwoFactorRequiredPage {
        layout: signed_in.layout(None)?,
        team_name: membership.account.name.clone(),
    };
    Ok(AppError::Page {
        status: StatusCode::FORBIDDEN,
        html: page.render()?,
    })
}

/// Rolls the member's last activity in the account forward, at most every
/// `ACTIVITY_GRANULARITY` (the Team page's access review shows it).
async fn note_activity(
    state: &AppState,
    signed_in: &SignedIn,
    membership: &AccountMembership,
) -> AppResult<()> {
    let now = state.clock.now();
    let stale = membership
        .last_active_at
        .is_none_or(|seen| now - seen >= models::ACTIVITY_GRANULARITY);
    if stale {
        let (account, user) = (membership.account.id, signed_in.user.id);
        state
            .db(move |conn| models::touch_membership(conn, account, user, now))
            .await?;
    }
    Ok(())
}
