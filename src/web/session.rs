//! What the console keeps in a session: the signed-in user, the CSRF token,
//! flash messages, and where to go after signing in.

use actix_session::Session;
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::tokens;
use crate::web::error::{AppError, AppResult};
pub use crate::web::session_store::USER_ID_KEY;

pub const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FlashLevel {
    Success,
    Error,
    Info,
}

impl FlashLevel {
    /// CSS class suffix and ARIA role hint.
    pub fn as_str(&self) -> &'static str {
        match self {
            FlashLevel::Success => "success",
            FlashLevel::Error => "error",
            FlashLevel::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub level: FlashLevel,
    pub text: String,
}

fn session_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("session: {e}"))
}

/// The session's CSRF token, created on first use.
pub fn csrf_token(session: &Session) -> AppResult<String> {
    if let Some(token) = session.get::<String>(CSRF_KEY).map_err(session_error)? {
        return Ok(token);
    }
    let token = tokens::random_token(32);
    session.insert(CSRF_KEY, &token).map_err(session_error)?;
    Ok(token)
}

pub fn user_id(session: &Session) -> Option<UserId> {
    session.get::<UserId>(USER_ID_KEY).ok().flatten()
}

/// Signs the user in: a new session key (against session fixation) and a
/// new CSRF token.
pub fn sign_in(session: &Session, user_id: UserId) -> AppResult<()> {
    session.renew();
    session
        .insert(USER_ID_KEY, user_id)
        .map_err(session_error)?;
    session
        .insert(CSRF_KEY, tokens::random_token(32))
        .map_err(session_error)?;
    Ok(())
}

pub fn flash(session: &Session, level: FlashLevel, text: impl Into<String>) {
    let mut all = session
        .get::<Vec<Flash>>(FLASH_KEY)
        .ok()
        .flatten()
        .unwrap_or_default();
    all.push(Flash {
        level,
        text: text.into(),
    });
    if let Err(e) = session.insert(FLASH_KEY, all) {
        tracing::warn!(error = %e, "could not store a flash message");
    }
}

pub fn success(session: &Session, text: impl Into<String>) {
    flash(session, FlashLevel::Success, text);
}

pub fn take_flashes(session: &Session) -> Vec<Flash> {
    // Only touch the session when there is something to take: removing a
    // key marks the session changed, which costs a write on every page.
    match session.get::<Vec<Flash>>(FLASH_KEY) {
        Ok(Some(flashes)) => {
            session.remove(FLASH_KEY);
            flashes
        }
        _ => Vec::new(),
    }
}
