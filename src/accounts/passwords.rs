//! Password rules and argon2id hashing.
//!
//! Hashing is slow on purpose, so it runs on the blocking pool behind a
//! limit sized to the cores: a storm of sign-in attempts queues for the
//! hasher instead of taking every core from page requests. Each permit is
//! also held, after its hash, for as long again (the caller does not
//! wait): a permit is at most half a core, so on two cores a storm takes a
//! quarter of the machine, not half. Unknown emails
//! are verified against a dummy hash so that timing does not reveal which
//! emails are registered.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

/// The hasher, shared by all requests, with its concurrency limit.
#[derive(Clone)]
pub struct Passwords {
    hasher: Arc<Hasher>,
    limit: Arc<Semaphore>,
    permits: usize,
}

impl Passwords {
    /// At most one hash at a time per core but one (and at least one).
    pub fn new(params: Params) -> Passwords {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let permits = cores.saturating_sub(1).max(1);
        Passwords {
            hasher: Arc::new(Hasher::new(params)),
            limit: Arc::new(Semaphore::new(permits)),
            permits,
        }
    }

    /// Hashing permits there are, and how many are taken (hashing or
    /// resting): a storm of sign-ins shows as all of them taken.
    pub fn permits(&self) -> (usize, usize) {
        let available = self.limit.available_permits();
        (self.permits, self.permits.saturating_sub(available))
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move |hasher| hasher.hash(&password)).await?
    }

    /// See `Hasher::verify`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        self.run(move |hasher| hasher.verify(&password, hash.as_deref()))
            .await
    }

    /// Runs `f` on the blocking pool with a permit, which goes back only
    /// once it has rested as long as `f` ran.
    async fn run<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(&Hasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.limit.clone().acquire_owned().await?;
        let hasher = self.hasher.clone();
        let started = Instant::now();
        let span = tracing::Span::current();
        let out = tokio::task::spawn_blocking(move || span.in_scope(|| f(&hasher))).await;
        let rest = started.elapsed();
        tokio::spawn(async move {
            tokio::time::sleep(rest).await;
            drop(permit);
        });
        Ok(out?)
    }
}

struct Hasher {
    params: Params,
    dummy_hash: String,
}

impl Hasher {
    fn new(params: Params) -> Hasher {
        let mut hasher = Hasher {
            params,
            dummy_hash: String::new(),
        };
        hasher.dummy_hash = hasher
            .hash(&crate::tokens::random_token(24))
            .unwrap_or_default();
        hasher
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon2()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string())
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no user (always false then, after the same work).
    fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let stored = hash.unwrap_or(&self.dummy_hash);
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let ok = self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && hash.is_some()
    }
}

/// Why a new password is refused, in words for the form.
pub fn check_strength(password: &str, user_inputs: &[&str]) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!("Use at least {MIN_LENGTH} characters."));
    }
    if length > MAX_LENGTH {
        return Err(format!("Use at most {MAX_LENGTH} characters."));
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    if estimate.score() < zxcvbn::Score::Three {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .map(|w| format!(" {w}."))
            .unwrap_or_default();
        return Err(format!(
            "This password is too easy to guess.{hint} Try a longer phrase of unrelated words."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Hasher {
        Hasher::new(Params::new(256, 1, 1, None).unwrap())
    }

    #[test]
    fn a_permit_rests_as_long_as_its_hash_ran() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let passwords = Passwords {
                hasher: Arc::new(cheap()),
                limit: Arc::new(Semaphore::new(1)),
                permits: 1,
            };
            let started = Instant::now();
            let hash = passwords
                .hash("correct horse battery".into())
                .await
                .unwrap();
            let ran = started.elapsed();
            assert_eq!(passwords.permits(), (1, 1), "resting");
            tokio::time::sleep(ran + std::time::Duration::from_millis(100)).await;
            assert_eq!(passwords.permits(), (1, 0), "rested");
            let right = passwords.verify("correct horse battery".into(), Some(hash));
            assert!(right.await.unwrap());
        });
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hasher = cheap();
        let hash = hasher.hash("violet tractor banjo").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{hash}");
        assert!(hasher.verify("violet tractor banjo", Some(&hash)));
        assert!(!hasher.verify("violet tractor banjO", Some(&hash)));
        assert!(
            !hasher.verify("violet tractor banjo", None),
            "no user, no match"
        );
        assert!(!hasher.verify("anything", Some("not a hash")));
    }

    #[test]
    fn hashes_made_with_another_cost_still_verify() {
        let old = Hasher::new(Params::new(512, 2, 1, None).unwrap());
        let hash = old.hash("old password").unwrap();
        assert!(cheap().verify("old password", Some(&hash)));
    }
}
