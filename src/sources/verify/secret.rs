//! A source's secret in the form each preset needs it: never printed, wiped when dropped.

use zeroize::Zeroizing;

use super::scheme::{InvalidScheme, Scheme, invalid};
use crate::secrets::{Secret, WHSEC_PREFIX, decode_whsec, encode_whsec, random_bytes};

const MAX_SECRET_LEN: usize = 1024;
const MAX_VERIFY_TOKEN_LEN: usize = 256;

/// One generation of a source's credentials: the key (HMAC key, password or API key) and, for
/// Meta, the verify token of its GET handshake. During a rotation's grace period the caller
/// passes the current and the previous generation, and either verifies.
#[derive(Clone)]
pub struct SourceSecret {
    key: Zeroizing<Vec<u8>>,
    verify_token: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for SourceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceSecret(****)")
    }
}

impl SourceSecret {
    /// The secret as `scheme` uses it: Standard Webhooks decodes its `whsec_<base64>` into the
    /// HMAC key; Stripe keys its HMAC with the `whsec_…` text itself, as Stripe's libraries do;
    /// every other preset uses the text's bytes. The error names the field, never the value.
    pub fn parse(scheme: &Scheme, text: &str) -> Result<SourceSecret, InvalidScheme> {
        if text.is_empty() || text.len() > MAX_SECRET_LEN {
            return Err(invalid("secret", "must be 1 to 1024 characters"));
        }
        let key = match scheme {
            Scheme::StandardWebhooks { .. } => {
                let key = decode_whsec(text).map_err(|m| invalid("secret", m))?;
                key.expose().clone()
            }
            _ => text.as_bytes().to_vec(),
        };
        Ok(SourceSecret {
            key: Zeroizing::new(key),
            verify_token: None,
        })
    }

    /// Adds the token Meta's GET handshake must present (`hub.verify_token`).
    pub fn with_verify_token(mut self, token: &str) -> Result<SourceSecret, InvalidScheme> {
        if token.is_empty() || token.len() > MAX_VERIFY_TOKEN_LEN {
            return Err(invalid("verify_token", "must be 1 to 256 characters"));
        }
        self.verify_token = Some(Zeroizing::new(token.as_bytes().to_vec()));
        Ok(self)
    }

    pub(super) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(super) fn verify_token(&self) -> Option<&[u8]> {
        self.verify_token.as_deref().map(Vec::as_slice)
    }
}

/// A fresh secret suited to `scheme`, for sources whose provider lets the user choose one:
/// `whsec_<base64 of 32 bytes>` for Standard Webhooks and Stripe-shaped `whsec_<hex>` for Stripe,
/// the hex of 32 random bytes for the rest.
pub fn generate_secret(scheme: &Scheme) -> Secret<String> {
    let bytes: [u8; 32] = random_bytes();
    Secret::new(match scheme {
        Scheme::StandardWebhooks { .. } => encode_whsec(&bytes),
        Scheme::Stripe { .. } => format!("{WHSEC_PREFIX}{}", hex::encode(bytes)),
        _ => hex::encode(bytes),
    })
}

/// A fresh verify token for Meta's handshake.
pub fn generate_verify_token() -> Secret<String> {
    Secret::new(hex::encode(random_bytes::<32>()))
}
