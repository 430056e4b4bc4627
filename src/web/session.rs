//! What the console keeps in a session: the signed-in user, the CSRF token,
//! flash messages, and where to go after signing in.

use crate::web::session_store::Session;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::UserId;
use crate::tokens;
use crate::web::error::{AppError, AppResult};
pub use crate::web::session_store::USER_ID_KEY;

pub const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";
/// When the signed-in user last proved who they are (password or code),
/// as Unix seconds of the console's clock: dangerous actions ask again
/// when it is older than `web::reauth::WINDOW`.
const VERIFIED_AT_KEY: &str = "verified_at";
/// The half-done sign-in of a user with two-factor sign-in: the password
/// was right, the code is still to come.
const PENDING_KEY: &str = "two_factor_pending";
/// A new authenticator secret being set up (sealed), until confirmed.
const SETUP_KEY: &str = "two_factor_setup";

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
/// new CSRF token. Signing in is proving who one is, at `now`.
pub fn sign_in(session: &Session, user_id: UserId, now: OffsetDateTime) -> AppResult<()> {
    session.renew();
    session.remove(PENDING_KEY);
    session
        .insert(USER_ID_KEY, user_id)
        .map_err(session_error)?;
    session
        .insert(CSRF_KEY, tokens::random_token(32))
        .map_err(session_error)?;
    mark_verified(session, now)
}

/// The user proved who they are at `now` (a password or a code).
pub fn mark_verified(session: &Session, now: OffsetDateTime) -> AppResult<()> {
    session
        .insert(VERIFIED_AT_KEY, now.unix_timestamp())
        .map_err(session_error)
}

/// When the user last proved who they are in this session.
pub fn verified_at(session: &Session) -> Option<OffsetDateTime> {
    let seconds = session.get::<i64>(VERIFIED_AT_KEY).ok().flatten()?;
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub user_id: UserId,
    /// Unix seconds of the console's clock when the password was right.
    pub started_at: i64,
    /// Where to go once signed in.
    pub next: String,
}

/// The password was right: the session (renewed, against fixation) waits
/// for the code. It is not signed in.
pub fn begin_two_factor(
    session: &Session,
    user_id: UserId,
    next: &str,
    now: OffsetDateTime,
) -> AppResult<()> {
    session.renew();
    session.remove(USER_ID_KEY);
    session.remove(VERIFIED_AT_KEY);
    session
        .insert(
            PENDING_KEY,
            PendingSignIn {
                user_id,
                started_at: now.unix_timestamp(),
                next: next.to_string(),
            },
        )
        .map_err(session_error)?;
    session
        .insert(CSRF_KEY, tokens::random_token(32))
        .map_err(session_error)?;
    Ok(())
}

pub fn pending_sign_in(session: &Session) -> Option<PendingSignIn> {
    session.get::<PendingSignIn>(PENDING_KEY).ok().flatten()
}

pub fn forget_pending_sign_in(session: &Session) {
    session.remove(PENDING_KEY);
}

/// Keeps the sealed secret of an authenticator being set up.
pub fn keep_setup_secret(session: &Session, sealed: &str) -> AppResult<()> {
    session.insert(SETUP_KEY, sealed).map_err(session_error)
}

pub fn setup_secret(session: &Session) -> Option<String> {
    session.get::<String>(SETUP_KEY).ok().flatten()
}

pub fn forget_setup_secret(session: &Session) {
    session.remove(SETUP_KEY);
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

/// A page's CSRF token (made on first use) and its flash messages (taken)
/// from a session's state read on a blocking thread, and whether that
/// changed the state.
pub fn layout_parts(state: &mut HashMap<String, String>) -> (String, Vec<Flash>, bool) {
    let mut changed = false;
    let csrf = match state
        .get(CSRF_KEY)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
    {
        Some(token) => token,
        None => {
            let token = tokens::random_token(32);
            let json = serde_json::to_string(&token).expect("a string serialises");
            state.insert(CSRF_KEY.to_string(), json);
            changed = true;
            token
        }
    };
    let flashes = match state.remove(FLASH_KEY) {
        Some(json) => {
            changed = true;
            serde_json::from_str(&json).unwrap_or_default()
        }
        None => Vec::new(),
    };
    (csrf, flashes, changed)
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

/// The invite being looked at (`/invite`): the hash of its link token,
/// never the token itself (sessions live in the database).
const INVITE_KEY: &str = "invite";

#[derive(Serialize, Deserialize)]
struct InviteTicket {
    token_hash: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Keeps the invite whose link token hashes to `token_hash`.
pub fn keep_invite(session: &Session, token_hash: &[u8]) -> AppResult<()> {
    session
        .insert(
            INVITE_KEY,
            InviteTicket {
                token_hash: hex(token_hash),
            },
        )
        .map_err(session_error)
}

/// The hash of the link token of the invite being looked at, if any.
pub fn invite(session: &Session) -> Option<Vec<u8>> {
    session
        .get::<InviteTicket>(INVITE_KEY)
        .ok()
        .flatten()
        .and_then(|t| unhex(&t.token_hash))
}

pub fn forget_invite(session: &Session) {
    session.remove(INVITE_KEY);
}

/// Signs out: the session is deleted server-side. With `keep_invite`, the
/// invite being looked at (nothing else) moves to a new, anonymous session,
/// so "Sign out and continue as …" does not lose it.
pub fn sign_out(session: &Session, keep_invite: bool) -> AppResult<bool> {
    let kept = keep_invite
        .then(|| session.get::<InviteTicket>(INVITE_KEY).ok().flatten())
        .flatten();
    match kept {
        Some(ticket) => {
            session.clear();
            session.renew();
            session.insert(INVITE_KEY, ticket).map_err(session_error)?;
            Ok(true)
        }
        None => {
            session.purge();
            Ok(false)
        }
    }
}
