//! Is a request Meta's? Two checks, both pure and constant-time where a secret is compared:
//!
//! - every webhook POST carries `X-Hub-Signature-256: sha256=<hex>`, the lowercase hex
//!   HMAC-SHA256 of the raw body keyed with the app secret ([`signature_ok`]);
//! - registering a webhook URL, Meta sends `GET ?hub.mode=subscribe&hub.verify_token=…&
//!   hub.challenge=…` and expects the challenge back when the token is the one configured
//!   ([`handshake`]).
//!
//! Anything a sender can put in a header or query is answered with `false`/`None`, never a panic.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::secrets::constant_time_eq;

/// The header Meta signs webhook bodies in.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
const SIGNATURE_PREFIX: &str = "sha256=";
/// Hex digits of an HMAC-SHA256.
const SIGNATURE_HEX_LEN: usize = 64;
/// Longest challenge echoed back. Meta's are decimal numbers of about ten digits; the cap keeps
/// the endpoint from reflecting whatever a caller with the verify token sends.
const MAX_CHALLENGE_LEN: usize = 256;

/// Whether `header` (the `X-Hub-Signature-256` value) is the HMAC-SHA256 of `body` keyed with
/// `app_secret`. Only `sha256=` followed by exactly 64 lowercase hex digits can match.
pub fn signature_ok(app_secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digits) = header.and_then(|h| h.strip_prefix(SIGNATURE_PREFIX)) else {
        return false;
    };
    if hex_digits.len() != SIGNATURE_HEX_LEN || !hex_digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return false;
    }
    let Ok(given) = hex::decode(hex_digits) else {
        return false;
    };
    // HMAC takes keys of any length, so this never fails for HMAC-SHA256.
    let Ok(mut mac) = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(body);
    constant_time_eq(&mac.finalize().into_bytes(), &given)
}

/// The verification handshake: the challenge to answer with (as `text/plain`, status 200) when
/// `mode` is `subscribe` and `token` is `expected_verify_token`; `None` (answer 403) otherwise.
/// An empty expected token never matches, so an unconfigured bot cannot be subscribed.
pub fn handshake(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    expected_verify_token: &str,
) -> Option<String> {
    let token = token?;
    let token_ok = constant_time_eq(token.as_bytes(), expected_verify_token.as_bytes());
    if mode != Some("subscribe") || !token_ok || expected_verify_token.is_empty() {
        return None;
    }
    challenge
        .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_LEN && c.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret-0123456789abcdef";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    /// The header Meta would send, computed independently of `signature_ok`.
    fn header_for(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_known_vector_matches() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(signature_ok(b"Jefe", b"what do ya want for nothing?", Some(header)));
        assert!(!signature_ok(b"Jefe", b"what do ya want for nothing!", Some(header)));
    }

    #[test]
    fn the_right_signature_is_accepted() {
        let header = header_for(SECRET, BODY);
        assert!(signature_ok(SECRET, BODY, Some(&header)));
    }

    #[test]
    fn another_body_or_secret_is_refused() {
        let header = header_for(SECRET, BODY);
        assert!(!signature_ok(SECRET, b"{}", Some(&header)));
        assert!(!signature_ok(b"other-secret", BODY, Some(&header)));
        let mut tampered = BODY.to_vec();
        tampered.push(b' ');
        assert!(!signature_ok(SECRET, &tampered, Some(&header)));
    }

    #[test]
    fn a_missing_header_is_refused() {
        assert!(!signature_ok(SECRET, BODY, None));
        assert!(!signature_ok(SECRET, BODY, Some("")));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = header_for(SECRET, BODY);
        let digits = good.strip_prefix("sha256=").unwrap();
        let hostile = [
            format!("sha1={digits}"),
            format!("SHA256={digits}"),
            format!("sha256= {digits}"),
            format!("sha256={digits} "),
            digits.to_string(),
            format!("sha256={}", &digits[..63]),
            format!("sha256={digits}0"),
            format!("sha256={digits}00"),
            format!("sha256={}", digits.to_uppercase()),
            format!("sha256={}zz", &digits[..62]),
            format!("sha256={}é", &digits[..62]),
            format!("sha256={}", "0".repeat(64)),
            format!("sha256={}", "a".repeat(1 << 20)),
            "sha256=".to_string(),
        ];
        for header in &hostile {
            assert!(!signature_ok(SECRET, BODY, Some(header)), "{:.80}", header);
        }
        // The same digits are still accepted in their proper form.
        assert!(signature_ok(SECRET, BODY, Some(&good)));
    }

    #[test]
    fn an_empty_secret_still_signs_and_checks() {
        let header = header_for(b"", BODY);
        assert!(signature_ok(b"", BODY, Some(&header)));
        assert!(!signature_ok(SECRET, BODY, Some(&header)));
    }

    #[test]
    fn the_handshake_echoes_the_challenge_for_the_right_token() {
        let answer = handshake(Some("subscribe"), Some("verify-me"), Some("1158201444"), "verify-me");
        assert_eq!(answer.as_deref(), Some("1158201444"));
    }

    #[test]
    fn the_handshake_refuses_a_wrong_token_or_mode() {
        let cases = [
            (Some("subscribe"), Some("verify-mE"), Some("1")),
            (Some("subscribe"), Some("verify-me "), Some("1")),
            (Some("subscribe"), None, Some("1")),
            (Some("unsubscribe"), Some("verify-me"), Some("1")),
            (Some("SUBSCRIBE"), Some("verify-me"), Some("1")),
            (None, Some("verify-me"), Some("1")),
        ];
        for (mode, token, challenge) in cases {
            assert_eq!(
                handshake(mode, token, challenge, "verify-me"),
                None,
                "{mode:?} {token:?}"
            );
        }
    }

    #[test]
    fn the_handshake_refuses_a_missing_or_hostile_challenge() {
        let long = "9".repeat(MAX_CHALLENGE_LEN + 1);
        for challenge in [
            None,
            Some(""),
            Some("a b"),
            Some("1\n2"),
            Some("é1"),
            Some(long.as_str()),
        ] {
            assert_eq!(
                handshake(Some("subscribe"), Some("t"), challenge, "t"),
                None,
                "{challenge:?}"
            );
        }
        let longest = "9".repeat(MAX_CHALLENGE_LEN);
        assert_eq!(
            handshake(Some("subscribe"), Some("t"), Some(&longest), "t"),
            Some(longest)
        );
    }

    #[test]
    fn an_empty_expected_token_never_matches() {
        assert_eq!(handshake(Some("subscribe"), Some(""), Some("1"), ""), None);
    }
}
