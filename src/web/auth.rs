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
use crate::web::layout::Layout;
use crate::web::session;
use crate::web::session_store::{self, Session, SessionExt, Stored};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use askama::Template;
use diesel::PgConnection;

pub struct SignedIn {
    pub user: User,
    pub accounts: Vec<AccountMembership>,
    pub session: Session,
}

impl SignedIn {
    /// The page layout, with `current` as the account shown in the header.
    pub fn layout(&self, current: Option<&AccountMembership>) -> AppResult<Layout> {
        Ok(Layout::signed_in(
            session::csrf_token(&self.session)?,
            session::take_flashes(&self.session),
            &self.user,
            &self.accounts,
            current,
        ))
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
            session.load(&req).await?;
            let next = return_path(&req);
            let Some(user_id) = session::user_id(&session) else {
                return Err(AppError::SignInRequired { next });
            };
            match session.principal(user_id) {
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
        if !req.get_session().is_loaded() {
            // Nothing loaded yet (a GET): the session, the checks and the
            // activity in one hand-off.
            let visit = Visit::<C> {
                req: req.clone(),
                _capability: PhantomData,
            };
            return Box::pin(async move {
                let (member, ()) = visit.db(|_, _| Ok::<_, AppError>(())).await?;
                Ok(member)
            });
        }
        let signed_in = SignedIn::from_request(req, payload);
        let account_id = account_in_path(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let signed_in = signed_in.await?;
            let at = admit(
                &signed_in.user,
                &signed_in.accounts,
                account_id,
                C::CAPABILITY,
            )
            .map_err(|refusal| refusal.into_error(&signed_in))?;
            let membership = signed_in.accounts[at].clone();
            if let Some(state) = state {
                let now = state.clock.now();
                if activity_is_stale(&membership, now) {
                    let (account, user) = (membership.account.id, signed_in.user.id);
                    state
                        .db(move |conn| models::touch_membership(conn, account, user, now))
                        .await?;
                }
            }
            Ok(Member {
                signed_in,
                membership,
                _capability: PhantomData,
            })
        })
    }
}

fn account_in_path(req: &HttpRequest) -> Option<AccountId> {
    req.match_info()
        .get("account_id")
        .and_then(|id| id.parse::<AccountId>().ok())
}

/// Why a signed-in person may not use a page of an account.
enum Refusal {
    /// Not a member (or no such account): nothing to learn about it.
    NotFound,
    /// The team requires two-factor sign-in, which they have not set up.
    TwoFactor(usize),
    NotPermitted(Capability),
}

impl Refusal {
    fn into_error(self, signed_in: &SignedIn) -> AppError {
        match self {
            Refusal::NotFound => AppError::NotFound,
            Refusal::TwoFactor(at) => {
                two_factor_gate(signed_in, &signed_in.accounts[at]).unwrap_or_else(|error| error)
            }
            Refusal::NotPermitted(capability) => AppError::NotPermitted(capability),
        }
    }
}

/// Which of `accounts` lets `user` use `capability` in `account_id`.
fn admit(
    user: &User,
    accounts: &[AccountMembership],
    account_id: Option<AccountId>,
    capability: Capability,
) -> Result<usize, Refusal> {
    let at = account_id
        .and_then(|id| accounts.iter().position(|m| m.account.id == id))
        .ok_or(Refusal::NotFound)?;
    let membership = &accounts[at];
    // Before the capability: a member the team's rule keeps out learns
    // nothing of it, not even what their role may do.
    if membership.account.require_two_factor && !user.has_two_factor() {
        return Err(Refusal::TwoFactor(at));
    }
    if !authz::allows(membership.account.kind, membership.role, capability) {
        return Err(Refusal::NotPermitted(capability));
    }
    Ok(at)
}

/// A member's last activity in the account is rolled forward at most every
/// `ACTIVITY_GRANULARITY` (the Team page's access review shows it).
fn activity_is_stale(membership: &AccountMembership, now: time::OffsetDateTime) -> bool {
    membership
        .last_active_at
        .is_none_or(|seen| now - seen >= models::ACTIVITY_GRANULARITY)
}

/// Who is looking at a page, as its queries see it on the blocking thread.
pub struct Access<'a> {
    pub user: &'a User,
    pub accounts: &'a [AccountMembership],
    pub membership: &'a AccountMembership,
    stored: &'a mut Stored,
}

impl Access<'_> {
    pub fn account_id(&self) -> AccountId {
        self.membership.account.id
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

    /// The page's layout (as `Member::layout`), for a page rendered on the
    /// thread that read its rows.
    pub fn layout(&mut self) -> Layout {
        let (csrf, flashes) = self.stored.layout_parts();
        Layout::signed_in(
            csrf,
            flashes,
            self.user,
            self.accounts,
            Some(self.membership),
        )
    }
}

/// A page of the account `{account_id}` in the URL that needs capability
/// `C`, before anything is loaded. `Visit::db` is its one hand-off to a
/// blocking thread: on one pooled connection it loads the session with the
/// user and their memberships, applies exactly `Member<C>`'s checks
/// (membership, the two-factor rule, the capability), rolls the member's
/// activity forward, and runs the page's queries.
pub struct Visit<C> {
    req: HttpRequest,
    _capability: PhantomData<C>,
}

impl<C> FromRequest for Visit<C> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Visit {
            req: req.clone(),
            _capability: PhantomData,
        }))
    }
}

impl<C: Needs + 'static> Visit<C> {
    /// Runs `f` with the member's access once they are let in, and gives
    /// back the member with what `f` returned. Any error is the request's.
    pub async fn db<T, E, F>(self, f: F) -> AppResult<(Member<C>, T)>
    where
        F: FnOnce(&mut PgConnection, &mut Access) -> Result<T, E> + Send + 'static,
        E: Into<AppError>,
        T: Send + 'static,
    {
        let session = self.req.get_session();
        let (state, sessions) = session_store::app_data(&self.req)?;
        // Loaded already (by an error page, say): a copy of what it found.
        let pending = session.pending(&sessions);
        let known = session.snapshot();
        let account_id = account_in_path(&self.req);
        let now = state.clock.now();
        let (stored, outcome) = state
            .db(move |conn| {
                let mut stored = match pending {
                    Some(pending) => pending.load(conn)?,
                    None => known,
                };
                let Some(principal) = stored.as_mut().and_then(Stored::take_principal) else {
                    return Ok::<_, AppError>((stored, None));
                };
                let stored_now = stored.as_mut().expect("a principal comes with its session");
                let (user, accounts) = &principal;
                let outcome = match admit(user, accounts, account_id, C::CAPABILITY) {
                    Err(refusal) => Err(refusal),
                    Ok(at) => {
                        let membership = &accounts[at];
                        if activity_is_stale(membership, now) {
                            models::touch_membership(conn, membership.account.id, user.id, now)?;
                        }
                        let mut access = Access {
                            user,
                            accounts,
                            membership,
                            stored: stored_now,
                        };
                        let value = f(conn, &mut access).map_err(Into::into)?;
                        Ok((at, value))
                    }
                };
                stored_now.put_principal(Some(principal));
                Ok((stored, Some(outcome)))
            })
            .await?;
        session.install(stored);
        let user_id = session::user_id(&session);
        let principal = user_id.and_then(|id| session.principal(id));
        let (Some((user, accounts)), Some(outcome)) = (principal, outcome) else {
            if user_id.is_some() {
                // Signed in as a user who is no more.
                session.purge();
            }
            return Err(AppError::SignInRequired {
                next: return_path(&self.req),
            });
        };
        let signed_in = SignedIn {
            user,
            accounts,
            session,
        };
        match outcome {
            Ok((at, value)) => {
                let membership = signed_in.accounts[at].clone();
                let member = Member {
                    signed_in,
                    membership,
                    _capability: PhantomData,
                };
                Ok((member, value))
            }
            Err(refusal) => Err(refusal.into_error(&signed_in)),
        }
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
