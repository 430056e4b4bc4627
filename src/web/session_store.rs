//! Sessions, kept in PostgreSQL over the accounts core's `sessions`
//! functions, and loaded only when a request needs them, inside the
//! request's one database hand-off.
//!
//! The browser holds a random key in a private (encrypted) cookie; the
//! table holds its SHA-256. Sessions expire after `idle` without a request
//! (rolling) and after `ABSOLUTE_LIFETIME` whatever happens.
//!
//! Why not actix-session: its middleware loads the state before any
//! handler runs, in a hand-off of its own, so every signed-in page paid
//! two (load, then the handler's queries). Here the middleware only reads
//! the cookie; a signed-in page loads the session, the user and their
//! memberships in the same blocking call and on the same connection as its
//! own queries (`web::auth::Visit`), and anything else that reads the
//! session loads it first (`Session::load`, the `Session` extractor, the
//! CSRF check). Changes are saved after the response, as before.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, SET_COOKIE};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::PgConnection;
use diesel::QueryResult;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::accounts::models::Principal;
use crate::accounts::sessions::{self, Loaded};
use crate::audit::Origin;
use crate::clock::Clock;
use crate::ids::{SessionId, UserId};
use crate::tokens;
use crate::web::error::{AppError, AppResult};

pub use crate::accounts::sessions::ABSOLUTE_LIFETIME;
/// Session state key holding the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";

/// How sessions are kept: one per console, in the app data.
pub struct Sessions {
    key: Key,
    cookie_name: &'static str,
    secure: bool,
    idle: time::Duration,
    /// Sessions live by the wall clock: a test's manual clock jumps hours
    /// ahead to bill Pods, and must not sign everyone out.
    clock: Clock,
}

impl Sessions {
    pub fn new(key: Key, secure: bool, idle: time::Duration, clock: Clock) -> Sessions {
        Sessions {
            key,
            cookie_name: if secure { "__Host-session" } else { "session" },
            secure,
            idle,
            clock,
        }
    }

    fn read_key(&self, req: &ServiceRequest) -> Option<String> {
        let cookie = req.cookie(self.cookie_name)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        jar.private(&self.key)
            .get(self.cookie_name)
            .map(|c| c.value().to_string())
    }

    fn cookie(&self, value: Option<&str>) -> Cookie<'static> {
        let mut cookie = Cookie::build(self.cookie_name, value.unwrap_or("").to_string())
            .path("/")
            .secure(self.secure)
            .http_only(true)
            .same_site(SameSite::Lax)
            .finish();
        match value {
            Some(_) => {
                let mut jar = CookieJar::new();
                jar.private_mut(&self.key).add(cookie);
                jar.get(self.cookie_name)
                    .cloned()
                    .expect("the cookie just added")
            }
            None => {
                cookie.make_removal();
                cookie
            }
        }
    }
}

/// What a request knows of its session: the key its cookie carried, and
/// once loaded, the state and the user and memberships loaded with it.
#[derive(Clone)]
pub struct Session(Rc<RefCell<Inner>>);

struct Inner {
    /// The session key the browser sent, if any.
    key: Option<String>,
    /// The stored state was read (or there is none to read).
    loaded: bool,
    /// The stored session, when the key matched a live one.
    id: Option<SessionId>,
    state: HashMap<String, String>,
    principal: Option<Principal>,
    status: Status,
    origin: Origin,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Unchanged,
    Changed,
    /// A new key at the end of the request (sign-in, against fixation).
    Renewed,
    /// Deleted at the end of the request (sign-out).
    Purged,
}

/// A session's key, hashed, ready to be loaded on a blocking thread.
pub struct Pending {
    hash: Vec<u8>,
    now: time::OffsetDateTime,
    idle: time::Duration,
    origin: Origin,
}

/// A stored session as loaded: its id, state, and the signed-in user and
/// their memberships.
pub struct Stored {
    id: Option<SessionId>,
    state: HashMap<String, String>,
    principal: Option<Principal>,
    /// The state was changed on the blocking thread (a flash taken).
    changed: bool,
}

impl Stored {
    /// The CSRF token and flash messages of a page's layout.
    pub fn layout_parts(&mut self) -> (String, Vec<crate::web::session::Flash>) {
        let (csrf, flashes, changed) = crate::web::session::layout_parts(&mut self.state);
        self.changed |= changed;
        (csrf, flashes)
    }

    /// The signed-in user and memberships loaded with the session, if the
    /// state names that user (taken, for checks that borrow the rest; put
    /// back with `put_principal`).
    pub fn take_principal(&mut self) -> Option<Principal> {
        let user_id = user_id_of(&self.state)?;
        self.principal.take().filter(|(user, _)| user.id == user_id)
    }

    pub fn put_principal(&mut self, principal: Option<Principal>) {
        self.principal = principal;
    }
}

impl Pending {
    /// The live session, its user and their memberships, in one round
    /// trip (and the idle deadline rolled forward).
    pub fn load(&self, conn: &mut PgConnection) -> QueryResult<Option<Stored>> {
        let loaded: Option<Loaded> =
            sessions::load(conn, &self.hash, self.now, self.idle, &self.origin)?;
        Ok(loaded.map(|loaded| Stored {
            id: Some(loaded.id),
            state: serde_json::from_value(loaded.state).unwrap_or_default(),
            principal: loaded.principal,
            changed: false,
        }))
    }
}

impl Session {
    fn of(req: &HttpRequest) -> Session {
        req.extensions()
            .get::<Session>()
            .cloned()
            .expect("the session middleware runs around every route")
    }

    pub fn is_loaded(&self) -> bool {
        let inner = self.0.borrow();
        inner.loaded || inner.key.is_none()
    }

    /// What loading this session takes, unless it is loaded already (or
    /// the browser sent no session).
    pub fn pending(&self, sessions: &Sessions) -> Option<Pending> {
        let inner = self.0.borrow();
        if inner.loaded {
            return None;
        }
        let key = inner.key.as_ref()?;
        Some(Pending {
            hash: tokens::sha256(key),
            now: sessions.clock.now(),
            idle: sessions.idle,
            origin: inner.origin.clone(),
        })
    }

    /// Takes in what `Pending::load` found.
    pub fn install(&self, stored: Option<Stored>) {
        let mut inner = self.0.borrow_mut();
        inner.loaded = true;
        if let Some(stored) = stored {
            inner.id = stored.id.or(inner.id);
            inner.state = stored.state;
            inner.principal = stored.principal;
            if stored.changed {
                inner.changed();
            }
        }
    }

    /// A copy of a loaded session, for a blocking thread (None if the
    /// browser sent no session or it was not found).
    pub fn snapshot(&self) -> Option<Stored> {
        let inner = self.0.borrow();
        inner.loaded.then_some(())?;
        inner.principal.as_ref()?;
        Some(Stored {
            id: inner.id,
            state: inner.state.clone(),
            principal: inner.principal.clone(),
            changed: false,
        })
    }

    /// Loads the request's session unless it is loaded already: one
    /// hand-off.
    pub async fn load(&self, req: &HttpRequest) -> AppResult<()> {
        let (state, sessions) = app_data(req)?;
        let Some(pending) = self.pending(&sessions) else {
            self.0.borrow_mut().loaded = true;
            return Ok(());
        };
        let loaded = state.db(move |conn| pending.load(conn)).await?;
        self.install(loaded);
        Ok(())
    }

    /// The user and memberships loaded with the session, if they are
    /// `user_id`'s.
    pub fn principal(&self, user_id: UserId) -> Option<Principal> {
        self.0
            .borrow()
            .principal
            .clone()
            .filter(|(user, _)| user.id == user_id)
    }

    /// The id of the stored session this request came with (None for a
    /// new one).
    pub fn id(&self) -> Option<SessionId> {
        self.0.borrow().id
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, serde_json::Error> {
        let inner = self.0.borrow();
        debug_assert!(
            inner.loaded || inner.key.is_none(),
            "session read before it was loaded"
        );
        inner
            .state
            .get(key)
            .map(|value| serde_json::from_str(value))
            .transpose()
    }

    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_string(&value)?;
        let mut inner = self.0.borrow_mut();
        inner.state.insert(key.to_string(), value);
        inner.changed();
        Ok(())
    }

    pub fn remove(&self, key: &str) -> Option<String> {
        let mut inner = self.0.borrow_mut();
        let removed = inner.state.remove(key);
        if removed.is_some() {
            inner.changed();
        }
        removed
    }

    pub fn clear(&self) {
        let mut inner = self.0.borrow_mut();
        inner.state.clear();
        inner.changed();
    }

    /// Deletes the session when the request ends (and its cookie).
    pub fn purge(&self) {
        let mut inner = self.0.borrow_mut();
        inner.state.clear();
        inner.principal = None;
        inner.status = Status::Purged;
    }

    /// Keeps the state under a new key when the request ends.
    pub fn renew(&self) {
        let mut inner = self.0.borrow_mut();
        if inner.status != Status::Purged {
            inner.status = Status::Renewed;
        }
    }
}

impl Inner {
    fn changed(&mut self) {
        if self.status == Status::Unchanged {
            self.status = Status::Changed;
        }
    }
}

/// The request's session, loaded.
impl FromRequest for Session {
    type Error = AppError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Session, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = Session::of(&req);
            session.load(&req).await?;
            Ok(session)
        })
    }
}

/// The request's session, as it is (loaded or not).
pub trait SessionExt {
    fn get_session(&self) -> Session;
}

impl SessionExt for HttpRequest {
    fn get_session(&self) -> Session {
        Session::of(self)
    }
}

impl SessionExt for ServiceRequest {
    fn get_session(&self) -> Session {
        Session::of(self.request())
    }
}

pub fn app_data(req: &HttpRequest) -> AppResult<(web::Data<AppState>, web::Data<Sessions>)> {
    let missing = || AppError::internal(anyhow::anyhow!("no app state"));
    Ok((
        req.app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(missing)?,
        req.app_data::<web::Data<Sessions>>()
            .cloned()
            .ok_or_else(missing)?,
    ))
}

/// The user id kept in a session's state (values are JSON-encoded).
fn user_id_of(state: &HashMap<String, String>) -> Option<UserId> {
    state
        .get(USER_ID_KEY)
        .and_then(|v| serde_json::from_str::<UserId>(v).ok())
}

/// What the end of a request does to the stored session.
enum Save {
    Nothing,
    Delete(Vec<u8>),
    /// Save the state (under the same key when it is live, else a new one),
    /// deleting the old key's row first when renewing.
    Write {
        old: Option<Vec<u8>>,
        renew: bool,
        user_id: Option<UserId>,
        state: serde_json::Value,
    },
}

/// Reads the cookie into the request's `Session`; after the response,
/// saves what changed (one more hand-off, only then) and sets the cookie.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let (state, sessions) = app_data(req.request())?;
    let session = Session(Rc::new(RefCell::new(Inner {
        key: sessions.read_key(&req),
        loaded: false,
        id: None,
        state: HashMap::new(),
        principal: None,
        status: Status::Unchanged,
        origin: crate::web::client::origin(req.request()),
    })));
    req.extensions_mut().insert(session.clone());
    let mut res = next.call(req).await?;

    let (save, origin) = {
        let inner = session.0.borrow();
        let old = inner.key.as_deref().map(tokens::sha256);
        let save = match inner.status {
            Status::Unchanged => Save::Nothing,
            // Writing a state never read would replace the stored one
            // (signing the person out): refused, and a bug to fix.
            Status::Changed | Status::Renewed if !inner.loaded && inner.key.is_some() => {
                tracing::error!("a session was changed before it was loaded; not saved");
                Save::Nothing
            }
            Status::Purged => old.map_or(Save::Nothing, Save::Delete),
            Status::Changed | Status::Renewed => Save::Write {
                renew: inner.status == Status::Renewed || inner.id.is_none(),
                old: old.filter(|_| inner.id.is_some()),
                user_id: user_id_of(&inner.state),
                state: serde_json::to_value(&inner.state).unwrap_or_default(),
            },
        };
        (save, inner.origin.clone())
    };
    let (now, idle) = (sessions.clock.now(), sessions.idle);
    let cookie = match save {
        Save::Nothing => None,
        Save::Delete(hash) => {
            let deleted = state
                .db(move |conn| sessions::delete(conn, &hash).map(|_| ()))
                .await;
            match deleted {
                Ok(()) => Some(sessions.cookie(None)),
                Err(error) => return Ok(failed(res, error)),
            }
        }
        Save::Write {
            old,
            renew,
            user_id,
            state: json,
        } => {
            let written = state
                .db(move |conn| {
                    write(
                        conn,
                        old.as_deref(),
                        renew,
                        user_id,
                        json,
                        now,
                        idle,
                        &origin,
                    )
                })
                .await;
            match written {
                Ok(None) => None,
                Ok(Some(key)) => Some(sessions.cookie(Some(&key))),
                Err(error) => return Ok(failed(res, error)),
            }
        }
    };
    if let Some(cookie) = cookie {
        let value = HeaderValue::from_str(&cookie.encoded().to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("session cookie: {e}")))?;
        res.headers_mut().append(SET_COOKIE, value);
    }
    Ok(res.map_into_left_body())
}

/// Saves a session's state: in place under its key while it lives, else
/// (new, renewed, or expired meanwhile) under a new key, which it returns.
#[allow(clippy::too_many_arguments)]
fn write(
    conn: &mut PgConnection,
    old: Option<&[u8]>,
    renew: bool,
    user_id: Option<UserId>,
    state: serde_json::Value,
    now: time::OffsetDateTime,
    idle: time::Duration,
    origin: &Origin,
) -> QueryResult<Option<String>> {
    if let Some(old) = old {
        if renew {
            sessions::delete(conn, old)?;
        } else if sessions::update(conn, old, user_id, state.clone(), now, idle)? == 1 {
            return Ok(None);
        }
    }
    let key = tokens::random_token(48);
    sessions::insert(
        conn,
        &tokens::sha256(&key),
        user_id,
        state,
        now,
        idle,
        origin,
    )?;
    Ok(Some(key))
}

/// The session could not be saved: the answer becomes the error's page
/// (503 when the database is unreachable), not a page whose change of
/// session was lost.
fn failed<B>(res: ServiceResponse<B>, error: AppError) -> ServiceResponse<EitherBody<B>> {
    let request = res.request().clone();
    ServiceResponse::new(request, HttpResponse::from_error(error)).map_into_right_body()
}
