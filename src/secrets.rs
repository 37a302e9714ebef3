//! Secrets: a wrapper that never prints, the master key that encrypts stored secrets
//! (XChaCha20-Poly1305), API key generation and hashing, and constant-time comparison.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A value that must not appear in logs, `Debug` output or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The only way to read the value; grep for it when auditing.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Fill `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// A random URL-safe token of `n` bytes of entropy.
pub fn random_token(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Constant-time equality for secrets and signatures.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Standard Webhooks secrets are `whsec_` followed by the base64 of 24–64 random bytes, and the
/// HMAC key is the decoded bytes: what the standard's libraries do with the same string. Outbound
/// signing and inbound source verification both read them here.
pub const WHSEC_PREFIX: &str = "whsec_";

/// The HMAC key of a `whsec_<base64 of 24..=64 bytes>` secret. The error never echoes the value.
pub fn decode_whsec(text: &str) -> Result<Secret<Vec<u8>>, &'static str> {
    let body = text
        .strip_prefix(WHSEC_PREFIX)
        .ok_or("must start with whsec_ followed by base64")?;
    let key = STANDARD
        .decode(body)
        .map_err(|_| "must be whsec_ followed by standard base64")?;
    if !(24..=64).contains(&key.len()) {
        return Err("must encode between 24 and 64 bytes");
    }
    Ok(Secret::new(key))
}

/// The `whsec_…` text of an HMAC key.
pub fn encode_whsec(key: &[u8]) -> String {
    format!("{WHSEC_PREFIX}{}", STANDARD.encode(key))
}

/// `HOOKLINE_MASTER_KEY`: base64 (standard or URL-safe) of exactly 32 bytes.
/// The error never echoes the input.
pub fn parse_master_key(s: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(s.trim())
        .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('=')))
        .map_err(|_| "expected base64 of 32 random bytes (generate one with `hookline master-key`)".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "expected base64 of exactly 32 bytes (generate one with `hookline master-key`)".to_string())
}

pub fn encode_master_key(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

/// Encrypts and decrypts small secrets (platform tokens, webhook secrets) for storage.
///
/// Layout of a sealed value: `v1` byte, 24-byte random nonce, ciphertext with tag.
/// The purpose string is bound as associated data, so a ciphertext copied from one column
/// into another does not decrypt.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored secret cannot be decrypted (wrong master key or corrupted value)")]
pub struct DecryptError;

const SEALED_VERSION: u8 = 1;

impl Cipher {
    pub fn new(key: &Secret<[u8; 32]>) -> Self {
        Cipher {
            aead: XChaCha20Poly1305::new(key.expose().into()),
        }
    }

    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; 24] = random_bytes();
        let nonce = XNonce::from(nonce_bytes);
        let ct = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            // Encryption of an in-memory buffer only fails on absurd lengths (> 256 GiB).
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Secret<Vec<u8>>, DecryptError> {
        if sealed.len() < 25 || sealed[0] != SEALED_VERSION {
            return Err(DecryptError);
        }
        let nonce_bytes: [u8; 24] = sealed[1..25].try_into().map_err(|_| DecryptError)?;
        let nonce = XNonce::from(nonce_bytes);
        self.aead
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[25..],
                    aad: purpose.as_bytes(),
                },
            )
            .map(Secret::new)
            .map_err(|_| DecryptError)
    }

    pub fn open_string(&self, purpose: &str, sealed: &[u8]) -> Result<Secret<String>, DecryptError> {
        let bytes = self.open(purpose, sealed)?;
        String::from_utf8(bytes.expose().clone())
            .map(Secret::new)
            .map_err(|_| DecryptError)
    }
}

/// Prefix of every API key, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "hk_";

/// A freshly generated API key: shown once, stored only as its hash.
pub struct NewApiKey {
    pub plaintext: Secret<String>,
    pub hash: [u8; 32],
    /// A short, non-secret prefix for display (`hk_AbCd…`).
    pub display_prefix: String,
}

pub fn generate_api_key() -> NewApiKey {
    let plaintext = format!("{API_KEY_PREFIX}{}", random_token(32));
    let hash = hash_api_key(&plaintext);
    let display_prefix = plaintext.chars().take(API_KEY_PREFIX.len() + 6).collect();
    NewApiKey {
        plaintext: Secret::new(plaintext),
        hash,
        display_prefix,
    }
}

/// Keys carry 256 bits of entropy, so a plain SHA-256 is the right hash: a slow password hash
/// would add latency to every request and no security.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    sha256(key.as_bytes())
}

/// rustls needs one process-wide crypto provider; hookline uses ring everywhere (the TLS of
/// its HTTP clients and of PostgreSQL connections).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("123456:very-secret".to_string());
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
    }

    #[test]
    fn seal_open_round_trip_and_purpose_binding() {
        let cipher = Cipher::new(&Secret::new(random_bytes()));
        let sealed = cipher.seal("telegram_token", b"123:abc");
        assert!(
            !sealed.windows(7).any(|w| w == b"123:abc"),
            "ciphertext must not contain the plaintext"
        );
        assert_eq!(cipher.open("telegram_token", &sealed).unwrap().expose(), b"123:abc");
        assert!(
            cipher.open("webhook_secret", &sealed).is_err(),
            "other purpose must not decrypt"
        );
        let other = Cipher::new(&Secret::new(random_bytes()));
        assert!(
            other.open("telegram_token", &sealed).is_err(),
            "other key must not decrypt"
        );
        assert!(cipher.open("telegram_token", &sealed[..10]).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher.open("telegram_token", &tampered).is_err());
    }

    #[test]
    fn api_keys_are_random_prefixed_and_hash_stably() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(a.plaintext.expose().starts_with(API_KEY_PREFIX));
        assert_ne!(a.plaintext.expose(), b.plaintext.expose());
        assert_eq!(a.hash, hash_api_key(a.plaintext.expose()));
        assert!(a.plaintext.expose().starts_with(&a.display_prefix));
    }

    #[test]
    fn master_key_parsing() {
        let key = encode_master_key(&[9u8; 32]);
        assert_eq!(parse_master_key(&key).unwrap(), [9u8; 32]);
        assert!(parse_master_key("not base64!").is_err());
        assert!(parse_master_key(&STANDARD.encode([1u8; 16])).is_err());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
