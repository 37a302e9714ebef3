//! Standard Webhooks signing (pure): `webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>`,
//! several space-separated signatures while a rotated-out secret is still in its grace period.
//!
//! Secrets are `whsec_` followed by the base64 of 24–64 random bytes; the HMAC key is the
//! decoded bytes, which is what receivers using the standard libraries do with the same string.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::secrets::{Secret, constant_time_eq, decode_whsec, encode_whsec, random_bytes};

/// A parsed endpoint secret: the `whsec_…` text and the HMAC key it stands for.
#[derive(Clone)]
pub struct WebhookSecret {
    text: Secret<String>,
    key: Secret<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// A fresh secret of 32 random bytes.
    pub fn generate() -> WebhookSecret {
        let bytes: [u8; 32] = random_bytes();
        WebhookSecret {
            text: Secret::new(encode_whsec(&bytes)),
            key: Secret::new(bytes.to_vec()),
        }
    }

    /// Accept a supplied `whsec_<base64 of 24..=64 bytes>`. The error never echoes the value.
    pub fn parse(text: &str) -> Result<WebhookSecret, &'static str> {
        Ok(WebhookSecret {
            text: Secret::new(text.to_string()),
            key: decode_whsec(text)?,
        })
    }

    pub fn expose_text(&self) -> &str {
        self.text.expose()
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(msg_id, timestamp, body)))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length; this cannot fail for HMAC-SHA256.
        let mut mac = match <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(self.key.expose()) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// True when one of the space-separated `v1,` signatures in `header` is ours (constant time).
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.mac(msg_id, timestamp, body);
        header.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|sig| {
            STANDARD
                .decode(sig)
                .is_ok_and(|bytes| constant_time_eq(&bytes, &expected))
        })
    }
}

/// The header value signed with every active secret (current first).
pub fn signature_header(secrets: &[WebhookSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_matches_the_standard_example() {
        // The worked example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn parse_rejects_bad_secrets_without_echoing() {
        assert!(WebhookSecret::parse("nope").is_err());
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
        assert!(WebhookSecret::parse("whsec_AAAA").is_err(), "too short");
        let generated = WebhookSecret::generate();
        assert!(WebhookSecret::parse(generated.expose_text()).is_ok());
        assert!(!format!("{generated:?}").contains("whsec_"));
    }

    #[test]
    fn rotation_header_carries_both_and_each_verifies() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        let header = signature_header(&[a.clone(), b.clone()], "id1", 10, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(a.verify("id1", 10, b"{}", &header));
        assert!(b.verify("id1", 10, b"{}", &header));
        assert!(!a.verify("id1", 11, b"{}", &header), "timestamp is signed");
        assert!(!a.verify("id1", 10, b"{ }", &header), "body is signed");
    }
}
