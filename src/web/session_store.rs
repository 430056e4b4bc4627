//! actix-session's `SessionStore` on PostgreSQL, over the accounts core's
//! `sessions` functions. Sessions expire after `idle` without a request
//! (rolling) and after `ABSOLUTE_LIFETIME` whatever happens.
//!
//! Loading a session also loads its user and their memberships in the same
//! query (one round trip instead of two on every signed-in page); the
//! `SignedIn` extractor picks them up through `take_principal`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;

use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use diesel::prelude::*;

use crate::accounts::models::Principal;
use crate::accounts::sessions;
use crate::audit::Origin;
use crate::clock::Clock;
use crate::db::{Blocked, Database};
use crate::ids::{SessionId, UserId};
use crate::tokens;
use crate::web::error::AppError;

pub use crate::accounts::sessions::ABSOLUTE_LIFETIME;
/// Session state key holding the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Debug, Clone, Copy)]
enum Failure {
    Unavailable,
    Broken,
}

/// What the store learnt about the current request.
#[derive(Default)]
struct RequestScope {
    /// The store failed: the database was unreachable (503) or the store
    /// itself broke (500).
    failure: Cell<Option<Failure>>,
    /// The session's user and their memberships, loaded with the session.
    principal: RefCell<Option<Principal>>,
    /// Where the request comes from, as the session's row records it.
    origin: RefCell<Origin>,
    /// The public id of the session the request came with, if any.
    session_id: Cell<Option<SessionId>>,
}

tokio::task_local! {
    static SCOPE: RequestScope;
}

/// The signed-in user and memberships loaded with this request's session,
/// if they belong to `user_id` (taken: a second call finds nothing).
pub fn take_principal(user_id: UserId) -> Option<Principal> {
    SCOPE
        .try_with(|scope| scope.principal.borrow_mut().take())
        .ok()
        .flatten()
        .filter(|(user, _)| user.id == user_id)
}

/// The id of the session this request came with (None for a new one).
pub fn current_session_id() -> Option<SessionId> {
    SCOPE
        .try_with(|scope| scope.session_id.get())
        .ok()
        .flatten()
}

fn request_origin() -> Origin {
    SCOPE
        .try_with(|scope| scope.origin.borrow().clone())
        .unwrap_or_default()
}

/// Wrapped just outside the session middleware, it gives each request the
/// scope above. actix-session turns store errors into bare 500s raised
/// outside every error page, so when the database is unreachable the store
/// answers harmlessly (no session, nothing saved), notes it in the scope,
/// and this middleware replaces whatever response was produced with the
/// 503 page.
pub async fn request_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let scope = RequestScope {
        origin: RefCell::new(crate::web::client::origin(req.request())),
        ..RequestScope::default()
    };
    let (res, failure) = SCOPE
        .scope(scope, async {
            let res = next.call(req).await;
            (res, SCOPE.with(|scope| scope.failure.get()))
        })
        .await;
    let res = res?;
    let error = match failure {
        None => return Ok(res.map_into_left_body()),
        Some(Failure::Unavailable) => AppError::Unavailable("session store".into()),
        Some(Failure::Broken) => AppError::Internal(anyhow::anyhow!("session store failed")),
    };
    let request = res.request().clone();
    Ok(ServiceResponse::new(request, HttpResponse::from_error(error)).map_into_right_body())
}

enum StoreError {
    Unavailable,
    Other(anyhow::Error),
}

#[derive(Clone)]
pub struct PgSessionStore {
    database: Database,
    idle: time::Duration,
    clock: Clock,
}

impl PgSessionStore {
    pub fn new(database: Database, idle: time::Duration, clock: Clock) -> Self {
        Self {
            database,
            idle,
            clock,
        }
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut PgConnection) -> QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let database = self.database.clone();
        self.database
            .block(move |checkout| {
                let mut conn = checkout.get().map_err(|e| {
                    tracing::warn!(error = %e, "session store: no database connection");
                    StoreError::Unavailable
                })?;
                f(&mut conn).map_err(|e| {
                    if crate::db::connection_lost(&mut conn) {
                        tracing::warn!(error = %e, "session store: database connection lost");
                        database.drop_dead_idle();
                        StoreError::Unavailable
                    } else {
                        StoreError::Other(e.into())
                    }
                })
            })
            .await
            .map_err(|e| match e {
                Blocked::Busy => {
                    tracing::warn!("session store: no database connection");
                    StoreError::Unavailable
                }
                Blocked::Failed(e) => {
                    StoreError::Other(anyhow::anyhow!("blocking task failed: {e}"))
                }
            })?
    }

    /// On failure, answers `fallback` (no session, nothing saved) and
    /// notes the failure for `request_scope`, which then answers the 503
    /// or 500 page. Outside a request (no scope) a failure is an error.
    fn settle<T>(result: Result<T, StoreError>, fallback: T) -> anyhow::Result<T> {
        let failure = match result {
            Ok(value) => return Ok(value),
            Err(StoreError::Unavailable) => Failure::Unavailable,
            Err(StoreError::Other(e)) => {
                tracing::error!(error = ?e, "session store failed");
                Failure::Broken
            }
        };
        match SCOPE.try_with(|scope| scope.failure.set(Some(failure))) {
            Ok(()) => Ok(fallback),
            Err(_) => Err(anyhow::anyhow!("session store failed: {failure:?}")),
        }
    }
}

/// The user id kept in a session's state (values are JSON-encoded).
fn user_id_of(state: &HashMap<String, String>) -> Option<UserId> {
    state
        .get(USER_ID_KEY)
        .and_then(|v| serde_json::from_str::<UserId>(v).ok())
}

fn to_json(state: &HashMap<String, String>) -> serde_json::Value {
    serde_json::to_value(state).unwrap_or_default()
}

impl SessionStore for PgSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let hash = tokens::sha256(key.as_ref());
        let (idle, now) = (self.idle, self.clock.now());
        let origin = request_origin();
        let loaded = self
            .run(move |conn| sessions::load(conn, &hash, now, idle, &origin))
            .await;
        let loaded = Self::settle(loaded, None).map_err(LoadError::Other)?;
        let Some(loaded) = loaded else {
            return Ok(None);
        };
        let _ = SCOPE.try_with(|scope| {
            *scope.principal.borrow_mut() = loaded.principal;
            scope.session_id.set(Some(loaded.id));
        });
        Ok(serde_json::from_value(loaded.state).ok())
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        _ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let key = tokens::random_token(48);
        let hash = tokens::sha256(&key);
        let (idle, now) = (self.idle, self.clock.now());
        let user_id = user_id_of(&state);
        let json = to_json(&state);
        let origin = request_origin();
        let saved = self
            .run(move |conn| sessions::insert(conn, &hash, user_id, json, now, idle, &origin))
            .await;
        Self::settle(saved, 0).map_err(SaveError::Other)?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let hash = tokens::sha256(key.as_ref());
        let (idle, now) = (self.idle, self.clock.now());
        let json = to_json(&state);
        let user_id = user_id_of(&state);
        let updated = self
            .run(move |conn| sessions::update(conn, &hash, user_id, json, now, idle))
            .await;
        let updated = Self::settle(updated, 1).map_err(UpdateError::Other)?;
        if updated == 1 {
            Ok(key)
        } else {
            // Expired meanwhile: start a new session rather than revive it.
            self.save(state, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            })
        }
    }

    async fn update_ttl(&self, key: &SessionKey, _ttl: &Duration) -> anyhow::Result<()> {
        let hash = tokens::sha256(key.as_ref());
        let (idle, now) = (self.idle, self.clock.now());
        let updated = self
            .run(move |conn| sessions::extend(conn, &hash, now, idle))
            .await;
        Self::settle(updated, 0)?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let hash = tokens::sha256(key.as_ref());
        let deleted = self.run(move |conn| sessions::delete(conn, &hash)).await;
        Self::settle(deleted, 0)?;
        Ok(())
    }
}
