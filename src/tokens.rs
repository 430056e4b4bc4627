//! Unguessable tokens and keyed hashes, for session keys, CSRF tokens,
//! secrets and invite links.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `bytes` of OS randomness, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // ThreadRng is a CSPRNG seeded (and periodically reseeded) from the OS.
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of a high-entropy token: what the database keeps instead of it.
pub fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time equality for secrets compared against user input.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A key for one purpose, derived from the console's secret key: the
/// HMAC-SHA256 of `label` under it.
pub fn derive_key(secret: &[u8], label: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// Seals values the console must read back but the database must not hold
/// in plain text (authenticator secrets, queued mail, collectors' shared
/// secrets), each bound to the id of its row: a random 24-byte nonce, then
/// the XChaCha20-Poly1305 ciphertext and its tag.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl SealingKey {
    /// The key for `label`'s purpose (see `derive_key`).
    pub fn derive(secret: &[u8], label: &[u8]) -> SealingKey {
        SealingKey(derive_key(secret, label))
    }

    pub fn seal(&self, id: &[u8], plain: &[u8]) -> Vec<u8> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = XChaCha20Poly1305::new((&self.0).into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: id,
                },
            )
            .expect("XChaCha20-Poly1305 seals any length we use");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The value sealed for `id`, or None when sealed for another id, under
    /// another key (SECRET_KEY changed), or altered.
    pub fn open(&self, id: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        if sealed.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        XChaCha20Poly1305::new((&self.0).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: id,
                },
            )
            .ok()
    }
}
