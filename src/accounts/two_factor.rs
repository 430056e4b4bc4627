//! Two-factor sign-in: codes from an authenticator app (TOTP, RFC 6238:
//! SHA-1, 6 digits, 30-second steps, one step of drift either way, each
//! code accepted once) and ten single-use recovery codes.
//!
//! The secret is sealed (XChaCha20-Poly1305, key derived from SECRET_KEY,
//! the user's id as associated data) in the database and in the session
//! while it is set up; it is shown once, on the set-up page, and never
//! logged. Recovery codes are kept as HMACs under another derived key, so
//! neither a copy of the database nor one of the logs gives a way in.

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::accounts::AccountsError;
use crate::accounts::models::User;
use crate::accounts::throttle;
use crate::audit::{self, Action, Actor, Origin, PersonalChange, Stage};
use crate::db::schema::{recovery_codes, users};
use crate::ids::UserId;
use crate::tokens;

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
/// Codes of this many steps before or after now are accepted too (a
/// phone's clock a little off).
pub const DRIFT_STEPS: i64 = 1;
/// 160 bits, RFC 4226's recommendation.
const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;
/// Lowercase base32: 5 bits a character, no padding.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Characters of a recovery code (50 bits), shown as two groups of five.
const RECOVERY_LENGTH: usize = 10;
/// The name an authenticator app shows for the console's codes.
pub const ISSUER: &str = "Team Console";

/// The keys of two-factor sign-in, derived from the console's secret key.
#[derive(Clone)]
pub struct Keys {
    seal: tokens::SealingKey,
    recovery: [u8; 32],
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            seal: tokens::SealingKey::derive(secret, b"team-console totp secrets v1"),
            recovery: tokens::derive_key(secret, b"team-console recovery codes v1"),
        }
    }

    /// `secret` sealed for `user`.
    pub fn seal(&self, user: UserId, secret: &[u8]) -> Vec<u8> {
        self.seal.seal(user.as_uuid().as_bytes(), secret)
    }

    /// The secret sealed for `user`, or None if it was sealed for someone
    /// else, under another key, or altered.
    pub fn unseal(&self, user: UserId, sealed: &[u8]) -> Option<Vec<u8>> {
        self.seal.open(user.as_uuid().as_bytes(), sealed)
    }

    /// What the database keeps of a recovery code.
    fn recovery_hash(&self, user: UserId, code: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.recovery)
            .expect("HMAC takes any key length");
        mac.update(user.as_uuid().as_bytes());
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// A fresh authenticator secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The secret as an authenticator app takes it typed in (base32).
pub fn secret_text(secret: &[u8]) -> String {
    match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => String::new(),
    }
}

/// The `otpauth://` URI of the QR code (Google Authenticator's key URI
/// format): the issuer, the account's email, the secret and our settings.
pub fn otpauth_uri(secret: &[u8], email: &str) -> String {
    let encode = |s: &str| -> String {
        form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        encode(ISSUER),
        encode(email),
        secret_text(secret),
        encode(ISSUER),
    )
}

fn totp(secret: &[u8], digits: usize) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        digits,
        DRIFT_STEPS as u8,
        STEP_SECONDS,
        secret.to_vec(),
    )
}

/// The `digits`-digit code of `secret` at Unix time `seconds`.
pub fn code_at(secret: &[u8], seconds: u64, digits: usize) -> String {
    totp(secret, digits).generate(seconds)
}

/// The time step of `now`.
pub fn step_of(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(STEP_SECONDS as i64)
}

/// What a person typed, as codes are compared: without spaces and dashes,
/// lowercase.
fn normalized(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Six digits: an authenticator code (anything else may be a recovery code).
pub fn looks_like_code(input: &str) -> bool {
    let code = normalized(input);
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The time step whose code `input` is, if it is one of `now`'s step or
/// within `DRIFT_STEPS` of it, and later than `after` (the step of the last
/// code accepted): a code is accepted once, and none older after it.
pub fn matching_step(
    secret: &[u8],
    input: &str,
    now: OffsetDateTime,
    after: Option<i64>,
) -> Option<i64> {
    let code = normalized(input);
    if !looks_like_code(&code) {
        return None;
    }
    let totp = totp(secret, DIGITS);
    let current = step_of(now);
    let mut found = None;
    // Every candidate is computed and compared, in constant time each.
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        let Ok(seconds) = u64::try_from(step * STEP_SECONDS as i64) else {
            continue;
        };
        let expected = totp.generate(seconds);
        let matches = crate::tokens::constant_time_eq(&expected, &code);
        if matches && after.is_none_or(|last| step > last) {
            found = Some(step);
        }
    }
    found
}

/// Ten new recovery codes, as shown ("abcde-fghij").
fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_LENGTH];
            rng.fill_bytes(&mut bytes);
            let code: String = bytes
                .iter()
                .map(|b| RECOVERY_ALPHABET[(b & 31) as usize] as char)
                .collect();
            format!("{}-{}", &code[..5], &code[5..])
        })
        .collect()
}

/// Replaces the user's recovery codes with ten new ones (the old ones stop
/// working); returns them, to be shown once.
fn replace_recovery_codes(
    conn: &mut PgConnection,
    keys: &Keys,
    user: UserId,
    now: OffsetDateTime,
) -> QueryResult<Vec<String>> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user))).execute(conn)?;
    let codes = new_recovery_codes();
    let rows: Vec<_> = codes
        .iter()
        .map(|code| {
            (
                recovery_codes::user_id.eq(user),
                recovery_codes::code_hash.eq(keys.recovery_hash(user, &normalized(code))),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(&rows)
        .execute(conn)?;
    Ok(codes)
}

/// How many of the user's recovery codes are unused.
pub fn recovery_codes_left(conn: &mut PgConnection, user: UserId) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

/// The user's row, locked: codes are checked and consumed one at a time.
fn lock_user(conn: &mut PgConnection, user: UserId) -> QueryResult<(Option<Vec<u8>>, Option<i64>)> {
    users::table
        .find(user)
        .select((users::totp_secret, users::totp_last_step))
        .for_update()
        .first(conn)
}

/// Turns two-factor sign-in on with `secret` (being set up), if `code` is
/// its current code: the first code confirms the app has the secret.
/// Returns the ten recovery codes, to be shown once.
pub fn enable(
    conn: &mut PgConnection,
    cx: &PersonalChange,
    keys: &Keys,
    secret: &[u8],
    code: &str,
) -> Result<Vec<String>, AccountsError> {
    conn.transaction(|conn| {
        let (sealed, _) = lock_user(conn, cx.user)?;
        if sealed.is_some() {
            return Err(AccountsError::TwoFactorAlreadyOn);
        }
        let step = matching_step(secret, code, cx.now, None).ok_or(AccountsError::WrongCode)?;
        diesel::update(users::table.find(cx.user))
            .set((
                users::totp_secret.eq(keys.seal(cx.user, secret)),
                users::totp_enabled_at.eq(cx.now),
                users::totp_last_step.eq(step),
            ))
            .execute(conn)?;
        let codes = replace_recovery_codes(conn, keys, cx.user, cx.now)?;
        cx.record(
            conn,
            Action::UserTwoFactorEnabled {
                user: cx.user,
                recovery_codes: codes.len() as i64,
            },
        )?;
        Ok(codes)
    })
}

/// Turns two-factor sign-in off: the secret and the recovery codes go, and
/// a notice goes to the person's email.
pub fn disable(
    conn: &mut PgConnection,
    cx: &PersonalChange,
    outbox: &crate::mail::Outbox,
) -> Result<(), AccountsError> {
    conn.transaction(|conn| {
        let (sealed, _) = lock_user(conn, cx.user)?;
        if sealed.is_none() {
            return Err(AccountsError::TwoFactorOff);
        }
        diesel::update(users::table.find(cx.user))
            .set((
                users::totp_secret.eq(None::<Vec<u8>>),
                users::totp_enabled_at.eq(None::<OffsetDateTime>),
                users::totp_last_step.eq(None::<i64>),
            ))
            .execute(conn)?;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(cx.user)))
            .execute(conn)?;
        cx.record(conn, Action::UserTwoFactorDisabled { user: cx.user })?;
        let (email, name): (String, String) = users::table
            .find(cx.user)
            .select((users::email, users::display_name))
            .first(conn)?;
        crate::accounts::notices::queue(
            conn,
            &email,
            &name,
            "Two-factor authentication was turned off",
            vec!["Two-factor authentication was turned off for your Team Console account: a password alone now signs in to it.".into()],
            crate::accounts::notices::Context {
                origin: &cx.origin,
                now: cx.now,
                outbox,
            },
        )?;
        Ok(())
    })
}

/// Ten new recovery codes; the old ones stop working.
pub fn regenerate_recovery_codes(
    conn: &mut PgConnection,
    cx: &PersonalChange,
    keys: &Keys,
) -> Result<Vec<String>, AccountsError> {
    conn.transaction(|conn| {
        let (sealed, _) = lock_user(conn, cx.user)?;
        if sealed.is_none() {
            return Err(AccountsError::TwoFactorOff);
        }
        let codes = replace_recovery_codes(conn, keys, cx.user, cx.now)?;
        cx.record(
            conn,
            Action::UserRecoveryCodesRegenerated {
                user: cx.user,
                count: codes.len() as i64,
            },
        )?;
        Ok(codes)
    })
}

/// Which second factor proved who someone is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Code,
    RecoveryCode,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Code => "code",
            Factor::RecoveryCode => "recovery_code",
        }
    }
}

/// The outcome of a second-factor check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Passed(Factor),
    Wrong,
    /// Too many wrong codes: wait this many seconds.
    Locked {
        retry_after: u64,
    },
}

/// Checks `input` (an authenticator code or a recovery code) for `user`,
/// throttled per user like passwords: wrong ones count against the user's
/// key (and are audited), a right one clears it. An authenticator code is
/// consumed (its step recorded); a recovery code is used up (audited in
/// the person's log, with how many are left).
pub fn check(
    conn: &mut PgConnection,
    keys: &Keys,
    user: &User,
    input: &str,
    stage: Stage,
    origin: &Origin,
    now: OffsetDateTime,
) -> QueryResult<Checked> {
    let key = throttle::two_factor_key(user.id);
    if let Some(retry_after) = throttle::retry_after(conn, std::slice::from_ref(&key), now)? {
        return Ok(Checked::Locked { retry_after });
    }
    let actor = Actor::user(user.id, &user.email, &user.display_name);
    let passed = conn.transaction(|conn| -> QueryResult<Option<Factor>> {
        let (sealed, last_step) = lock_user(conn, user.id)?;
        let Some(secret) = sealed.and_then(|s| keys.unseal(user.id, &s)) else {
            return Ok(None);
        };
        if looks_like_code(input) {
            let Some(step) = matching_step(&secret, input, now, last_step) else {
                return Ok(None);
            };
            diesel::update(users::table.find(user.id))
                .set(users::totp_last_step.eq(step))
                .execute(conn)?;
            return Ok(Some(Factor::Code));
        }
        let hash = keys.recovery_hash(user.id, &normalized(input));
        let used = diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user.id))
                .filter(recovery_codes::code_hash.eq(hash))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(now))
        .execute(conn)?;
        if used == 0 {
            return Ok(None);
        }
        let cx = PersonalChange {
            user: user.id,
            actor: actor.clone(),
            origin: origin.clone(),
            now,
        };
        let left = recovery_codes_left(conn, user.id)?;
        cx.record(
            conn,
            Action::UserRecoveryCodeUsed {
                user: user.id,
                stage,
                left,
            },
        )?;
        Ok(Some(Factor::RecoveryCode))
    })?;
    conn.transaction(|conn| match passed {
        Some(factor) => {
            throttle::clear(conn, &key)?;
            Ok(Checked::Passed(factor))
        }
        None => {
            throttle::record_failure(conn, &key, throttle::TWO_FACTOR_LIMIT, now)?;
            audit::record(
                conn,
                None,
                Some(&actor),
                origin,
                Action::UserTwoFactorFailed {
                    user: user.id,
                    stage,
                },
            )?;
            Ok(Checked::Wrong)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 rows (8 digits, the 20-byte ASCII
    /// secret "12345678901234567890").
    #[test]
    fn codes_match_the_published_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, time, 8), code, "T = {time}");
            // Six digits are the same number, modulo 10^6.
            assert_eq!(code_at(secret, time, DIGITS), &code[2..], "T = {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_within_one_step_of_drift_and_once() {
        let secret = new_secret();
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_015).unwrap();
        let step = step_of(now);
        let at = |step: i64| code_at(&secret, (step * 30) as u64, DIGITS);
        assert_eq!(matching_step(&secret, &at(step), now, None), Some(step));
        assert_eq!(
            matching_step(&secret, &at(step - 1), now, None),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&secret, &at(step + 1), now, None),
            Some(step + 1)
        );
        assert_eq!(matching_step(&secret, &at(step - 2), now, None), None);
        assert_eq!(matching_step(&secret, &at(step + 2), now, None), None);
        // Used once: the same code, or an older one, is refused after it.
        assert_eq!(matching_step(&secret, &at(step), now, Some(step)), None);
        assert_eq!(matching_step(&secret, &at(step - 1), now, Some(step)), None);
        let spaced = format!("{} {}", &at(step)[..3], &at(step)[3..]);
        assert_eq!(matching_step(&secret, &spaced, now, None), Some(step));
        assert_eq!(matching_step(&secret, "12345", now, None), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let keys = Keys::new(b"a secret key of at least 32 bytes!!");
        let (alice, bob) = (UserId::new(), UserId::new());
        let secret = new_secret();
        let sealed = keys.seal(alice, &secret);
        assert_ne!(&sealed[24..], secret.as_slice());
        assert_eq!(keys.unseal(alice, &sealed), Some(secret.clone()));
        assert_eq!(keys.unseal(bob, &sealed), None, "moved to another user");
        let other = Keys::new(b"another secret key, 32 bytes long!!");
        assert_eq!(other.unseal(alice, &sealed), None, "another SECRET_KEY");
        let mut altered = sealed.clone();
        altered[30] ^= 1;
        assert_eq!(keys.unseal(alice, &altered), None);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_typed_forgivingly() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert!(!looks_like_code(code));
        }
        assert_eq!(normalized(" ABCDE-fghij "), "abcdefghij");
    }

    #[test]
    fn the_otpauth_uri_names_the_issuer_and_the_account() {
        let uri = otpauth_uri(b"12345678901234567890", "ada+x@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Team%20Console:ada%2Bx%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Team%20Console&algorithm=SHA1&digits=6&period=30"
        );
    }
}
