//! Slack's `url_verification` and Meta's GET handshake.

use http::{HeaderMap, Method};

use super::verify_tests::{NOW, headers, secrets, sha256};
use super::*;

const CHALLENGE_BODY: &[u8] =
    br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;

fn slack_headers(secret: &str, body: &[u8]) -> HeaderMap {
    let ts = NOW.to_string();
    let mut signed = format!("v0:{ts}:").into_bytes();
    signed.extend_from_slice(body);
    let sig = format!("v0={}", hex::encode(sha256(secret.as_bytes(), &signed)));
    headers(&[("x-slack-request-timestamp", &ts), ("x-slack-signature", &sig)])
}

fn slack_challenge(signed_with: &str, body: &[u8]) -> Option<Challenge> {
    let scheme = Scheme::Slack { tolerance_secs: 300 };
    let map = slack_headers(signed_with, body);
    let req = Request {
        method: &Method::POST,
        headers: &map,
        query: None,
        body,
    };
    challenge(&scheme, &secrets(&scheme, &["slack-secret"]), &req, NOW)
}

#[test]
fn slack_url_verification_is_answered_once_it_verifies() {
    let answer = slack_challenge("slack-secret", CHALLENGE_BODY).unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    assert!(answer.content_type.starts_with("text/plain"));
    assert_eq!(
        slack_challenge("forged", CHALLENGE_BODY),
        None,
        "then verify refuses it"
    );
    assert_eq!(
        slack_challenge("slack-secret", br#"{"type":"event_callback","event":{}}"#),
        None
    );
    let hostile = br#"{"type":"url_verification","challenge":"a b"}"#;
    assert_eq!(slack_challenge("slack-secret", hostile), None);
    assert_eq!(slack_challenge("slack-secret", b"url_verification"), None);
}

fn meta_get(query: &str, tokens: &[&str]) -> Option<Challenge> {
    let scheme = Scheme::Meta {};
    let keys: Vec<SourceSecret> = tokens
        .iter()
        .map(|t| {
            SourceSecret::parse(&scheme, "app-secret")
                .unwrap()
                .with_verify_token(t)
                .unwrap()
        })
        .collect();
    let map = HeaderMap::new();
    let req = Request {
        method: &Method::GET,
        headers: &map,
        query: Some(query),
        body: b"",
    };
    challenge(&scheme, &keys, &req, NOW)
}

#[test]
fn meta_handshake_echoes_the_challenge_for_the_right_token() {
    let ok = meta_get(
        "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1158201444",
        &["tok"],
    )
    .unwrap();
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"1158201444".as_slice()));
    let rotated = meta_get(
        "hub.mode=subscribe&hub.verify_token=old&hub.challenge=7",
        &["new", "old"],
    )
    .unwrap();
    assert_eq!(rotated.status, 200);
}

#[test]
fn meta_handshake_refuses_a_wrong_token_mode_or_challenge() {
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=tok&hub.challenge=1",
        "hub.verify_token=tok&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=tok",
        "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=a%20b",
    ] {
        assert_eq!(meta_get(query, &["tok"]).map(|c| c.status), Some(403), "{query}");
    }
    let no_token_configured = meta_get("hub.mode=subscribe&hub.verify_token=&hub.challenge=1", &[]);
    assert_eq!(no_token_configured.map(|c| c.status), Some(403));
    assert_eq!(meta_get("other=1", &["tok"]), None, "not a handshake: verify decides");
}

#[test]
fn other_presets_and_methods_have_no_challenge() {
    let map = HeaderMap::new();
    let query = Some("hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1");
    let post = Request {
        method: &Method::POST,
        headers: &map,
        query,
        body: CHALLENGE_BODY,
    };
    let meta = Scheme::Meta {};
    assert_eq!(challenge(&meta, &secrets(&meta, &["s"]), &post, NOW), None);
    let github = Scheme::Github {};
    assert_eq!(challenge(&github, &secrets(&github, &["s"]), &post, NOW), None);
}
