//! Each preset against signatures computed here with the `hmac` crate directly, as the provider
//! computes them, not through the code under test. Standard Webhooks and Stripe, whose headers
//! list signatures, are in `signature_lists_tests`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;

pub(super) const NOW: i64 = 1_700_000_000;
pub(super) const BODY: &[u8] = br#"{"id":"evt_1","amount":100}"#;
pub(super) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(super) fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(super) fn sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    mac::<Hmac<sha2::Sha256>>(key, data)
}

pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

pub(super) fn secrets(scheme: &Scheme, texts: &[&str]) -> Vec<SourceSecret> {
    texts.iter().map(|t| SourceSecret::parse(scheme, t).unwrap()).collect()
}

/// `verify` of a POST with `pairs` as headers, `query` and `body` at [`NOW`].
pub(super) fn check(
    scheme: &Scheme,
    keys: &[&str],
    pairs: &[(&str, &str)],
    query: Option<&str>,
    body: &[u8],
) -> Result<Verified, Refusal> {
    let map = headers(pairs);
    let req = Request {
        method: &Method::POST,
        headers: &map,
        query,
        body,
    };
    verify(scheme, &secrets(scheme, keys), &req, NOW)
}

pub(super) fn reason(result: Result<Verified, Refusal>) -> RefusalReason {
    result.expect_err("should be refused").reason
}

#[test]
fn github_and_meta_presets() {
    for s in [Scheme::Github {}, Scheme::Meta {}] {
        let good = format!("sha256={}", hex::encode(sha256(b"gh-secret", BODY)));
        let run = |sig: &str, keys: &[&str]| check(&s, keys, &[("X-Hub-Signature-256", sig)], None, BODY);
        assert!(run(&good, &["gh-secret"]).unwrap().signature_id.is_some());
        assert!(run(&good, &["new", "gh-secret"]).is_ok());
        assert_eq!(reason(run(&good, &["other"])), RefusalReason::BadSignature);
        assert_eq!(
            reason(check(&s, &["gh-secret"], &[], None, BODY)),
            RefusalReason::MissingHeader
        );
        for bad in [
            &good[7..],
            &good.replace("sha256=", "sha1="),
            &good[..70],
            "sha256=",
            &format!("{good}00"),
        ] {
            assert_eq!(reason(run(bad, &["gh-secret"])), RefusalReason::Malformed, "{bad}");
        }
        assert_eq!(
            reason(check(&s, &["gh-secret"], &[("x-hub-signature-256", &good)], None, b"x")),
            RefusalReason::BadSignature
        );
    }
}

#[test]
fn rfc_4231_vector_through_the_github_preset() {
    let header = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    let s = Scheme::Github {};
    assert!(
        check(
            &s,
            &["Jefe"],
            &[("x-hub-signature-256", header)],
            None,
            b"what do ya want for nothing?"
        )
        .is_ok()
    );
}

#[test]
fn shopify_preset() {
    let s = Scheme::Shopify {};
    let good = STANDARD.encode(sha256(b"shp-secret", BODY));
    let run = |sig: &str| check(&s, &["shp-secret"], &[("X-Shopify-Hmac-Sha256", sig)], None, BODY);
    assert!(run(&good).is_ok());
    assert_eq!(
        reason(run(&STANDARD.encode(sha256(b"other", BODY)))),
        RefusalReason::BadSignature
    );
    assert_eq!(
        reason(run(&hex::encode(sha256(b"shp-secret", BODY)))),
        RefusalReason::Malformed
    );
    assert_eq!(reason(run(&good[..43])), RefusalReason::Malformed);
}

fn slack_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut signed = format!("v0:{ts}:").into_bytes();
    signed.extend_from_slice(body);
    format!("v0={}", hex::encode(sha256(secret.as_bytes(), &signed)))
}

#[test]
fn slack_preset() {
    let s = Scheme::Slack { tolerance_secs: 300 };
    let run = |ts: i64, sig: &str, keys: &[&str]| {
        let ts = ts.to_string();
        check(
            &s,
            keys,
            &[("X-Slack-Request-Timestamp", &ts), ("X-Slack-Signature", sig)],
            None,
            BODY,
        )
    };
    let ts = NOW.to_string();
    assert!(run(NOW, &slack_signature("slack-secret", &ts, BODY), &["slack-secret"]).is_ok());
    assert!(run(NOW, &slack_signature("old", &ts, BODY), &["slack-secret", "old"]).is_ok());
    assert_eq!(
        reason(run(NOW, &slack_signature("x", &ts, BODY), &["slack-secret"])),
        RefusalReason::BadSignature
    );
    let stale = slack_signature("slack-secret", &(NOW - 301).to_string(), BODY);
    assert_eq!(
        reason(run(NOW - 301, &stale, &["slack-secret"])),
        RefusalReason::StaleTimestamp
    );
    let future = slack_signature("slack-secret", &(NOW + 301).to_string(), BODY);
    assert_eq!(
        reason(run(NOW + 301, &future, &["slack-secret"])),
        RefusalReason::FutureTimestamp
    );
    let sig = slack_signature("slack-secret", &ts, BODY);
    assert_eq!(
        reason(check(&s, &["slack-secret"], &[("X-Slack-Signature", &sig)], None, BODY)),
        RefusalReason::MissingHeader
    );
    assert_eq!(
        reason(run(NOW, &sig.replace("v0=", "v1="), &["slack-secret"])),
        RefusalReason::Malformed
    );
}

fn generic(options: serde_json::Value) -> Scheme {
    let mut value = serde_json::json!({"type": "hmac"});
    value
        .as_object_mut()
        .unwrap()
        .extend(options.as_object().unwrap().clone());
    let scheme: Scheme = serde_json::from_value(value).unwrap();
    scheme.validate().unwrap();
    scheme
}

#[test]
fn generic_hmac_algorithms_encodings_and_prefix() {
    let sha1 = generic(serde_json::json!({"header": "X-Signature", "algorithm": "sha1", "prefix": "sha1="}));
    let sig = format!("sha1={}", hex::encode(mac::<Hmac<sha1::Sha1>>(b"k", BODY)));
    assert!(check(&sha1, &["k"], &[("x-signature", &sig)], None, BODY).is_ok());
    assert_eq!(
        reason(check(&sha1, &["k2"], &[("x-signature", &sig)], None, BODY)),
        RefusalReason::BadSignature
    );
    let sha512 = generic(serde_json::json!({"header": "X-Sig", "algorithm": "sha512", "encoding": "base64"}));
    let sig = STANDARD.encode(mac::<Hmac<sha2::Sha512>>(b"k", BODY));
    assert!(check(&sha512, &["k"], &[("x-sig", &sig)], None, BODY).is_ok());
    assert_eq!(
        reason(check(&sha512, &["k"], &[("x-sig", &sig[1..])], None, BODY)),
        RefusalReason::Malformed
    );
}

#[test]
fn generic_hmac_with_a_timestamp_and_template() {
    let s = generic(serde_json::json!({
        "header": "X-Sig", "timestamp_header": "X-Ts", "signed_content": "{timestamp}:{body}", "tolerance_secs": 60
    }));
    let run = |ts: i64| {
        let mut signed = format!("{ts}:").into_bytes();
        signed.extend_from_slice(BODY);
        let sig = hex::encode(sha256(b"k", &signed));
        check(&s, &["k"], &[("x-sig", &sig), ("x-ts", &ts.to_string())], None, BODY)
    };
    assert!(run(NOW).is_ok());
    assert!(run(NOW - 60).is_ok());
    assert_eq!(reason(run(NOW - 61)), RefusalReason::StaleTimestamp);
    assert_eq!(reason(run(NOW + 61)), RefusalReason::FutureTimestamp);
    let default_template = generic(serde_json::json!({"header": "X-Sig", "timestamp_header": "X-Ts"}));
    let mut signed = format!("{NOW}.").into_bytes();
    signed.extend_from_slice(BODY);
    let sig = hex::encode(sha256(b"k", &signed));
    assert!(
        check(
            &default_template,
            &["k"],
            &[("x-sig", &sig), ("x-ts", &NOW.to_string())],
            None,
            BODY
        )
        .is_ok()
    );
    assert_eq!(
        reason(check(&default_template, &["k"], &[("x-sig", &sig)], None, BODY)),
        RefusalReason::MissingHeader
    );
}

#[test]
fn a_header_sent_twice_is_malformed() {
    let good = format!("sha256={}", hex::encode(sha256(b"k", BODY)));
    let pairs = [
        ("x-hub-signature-256", good.as_str()),
        ("x-hub-signature-256", good.as_str()),
    ];
    assert_eq!(
        reason(check(&Scheme::Github {}, &["k"], &pairs, None, BODY)),
        RefusalReason::Malformed
    );
}

#[test]
fn basic_preset() {
    let s = Scheme::Basic {
        username: "shop".into(),
    };
    let auth = |user: &str, pass: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
    let run = |value: &str, keys: &[&str]| check(&s, keys, &[("authorization", value)], None, BODY);
    assert_eq!(
        run(&auth("shop", "pw:with:colons"), &["pw:with:colons"]).unwrap(),
        Verified::default()
    );
    assert!(run(&auth("shop", "old"), &["new", "old"]).is_ok());
    assert_eq!(
        reason(run(&auth("shop", "nope"), &["pw"])),
        RefusalReason::WrongCredentials
    );
    assert_eq!(
        reason(run(&auth("other", "pw"), &["pw"])),
        RefusalReason::WrongCredentials
    );
    assert_eq!(
        reason(check(&s, &["pw"], &[], None, BODY)),
        RefusalReason::MissingCredentials
    );
    for bad in [
        "Basic",
        "Bearer pw",
        "Basic !!!",
        &format!("Basic {}", STANDARD.encode("nocolon")),
    ] {
        assert_eq!(reason(run(bad, &["pw"])), RefusalReason::Malformed, "{bad}");
    }
}

#[test]
fn api_key_in_a_header_or_the_query() {
    let in_header = Scheme::ApiKey(ApiKeyOptions {
        header: Some("X-Api-Key".into()),
        query: None,
    });
    assert!(check(&in_header, &["key1"], &[("x-api-key", "key1")], None, BODY).is_ok());
    assert!(check(&in_header, &["key2", "key1"], &[("x-api-key", "key1")], None, BODY).is_ok());
    assert_eq!(
        reason(check(&in_header, &["key1"], &[("x-api-key", "key2")], None, BODY)),
        RefusalReason::WrongCredentials
    );
    assert_eq!(
        reason(check(&in_header, &["key1"], &[], Some("x-api-key=key1"), BODY)),
        RefusalReason::MissingCredentials
    );
    let bearer = Scheme::ApiKey(ApiKeyOptions {
        header: Some("Authorization".into()),
        query: None,
    });
    assert!(check(&bearer, &["key1"], &[("authorization", "Bearer key1")], None, BODY).is_ok());
    assert!(check(&bearer, &["key1"], &[("authorization", "key1")], None, BODY).is_ok());
    let in_query = Scheme::ApiKey(ApiKeyOptions {
        header: None,
        query: Some("token".into()),
    });
    assert!(check(&in_query, &["a b&c"], &[], Some("x=1&token=a+b%26c"), BODY).is_ok());
    assert_eq!(
        reason(check(&in_query, &["k"], &[], Some("token=j"), BODY)),
        RefusalReason::WrongCredentials
    );
    assert_eq!(
        reason(check(&in_query, &["k"], &[], Some("tokens=k"), BODY)),
        RefusalReason::MissingCredentials
    );
    assert_eq!(
        reason(check(&in_query, &["k"], &[], None, BODY)),
        RefusalReason::MissingCredentials
    );
    let long = format!("token={}", "k".repeat(9000));
    assert_eq!(
        reason(check(&in_query, &["k"], &[], Some(&long), BODY)),
        RefusalReason::Malformed
    );
}

#[test]
fn none_accepts_anything_and_the_others_need_a_secret() {
    assert!(check(&Scheme::None {}, &[], &[], None, b"anything").is_ok());
    assert_eq!(
        reason(check(&Scheme::Github {}, &[], &[], None, BODY)),
        RefusalReason::NoSecret
    );
}

#[test]
fn refusals_and_secrets_never_show_secret_material() {
    let s = Scheme::Github {};
    let secret = SourceSecret::parse(&s, "super-secret-value").unwrap();
    assert_eq!(format!("{secret:?}"), "SourceSecret(****)");
    let refusal = check(
        &s,
        &["super-secret-value"],
        &[("x-hub-signature-256", &format!("sha256={}", "0".repeat(64)))],
        None,
        BODY,
    )
    .unwrap_err();
    let expected = hex::encode(sha256(b"super-secret-value", BODY));
    let shown = format!("{refusal} {refusal:?}");
    assert!(!shown.contains("super-secret") && !shown.contains(&expected), "{shown}");
    let err = SourceSecret::parse(&Scheme::StandardWebhooks { tolerance_secs: 300 }, "whsec_not-base64!").unwrap_err();
    assert!(!err.to_string().contains("not-base64"));
}

#[test]
fn secrets_are_parsed_and_generated_per_preset() {
    assert!(SourceSecret::parse(&Scheme::StandardWebhooks { tolerance_secs: 300 }, WHSEC).is_ok());
    assert!(SourceSecret::parse(&Scheme::StandardWebhooks { tolerance_secs: 300 }, "plain").is_err());
    assert!(SourceSecret::parse(&Scheme::Github {}, "").is_err());
    assert!(SourceSecret::parse(&Scheme::Github {}, &"x".repeat(1025)).is_err());
    let generated = generate_secret(&Scheme::StandardWebhooks { tolerance_secs: 300 });
    assert!(SourceSecret::parse(&Scheme::StandardWebhooks { tolerance_secs: 300 }, generated.expose()).is_ok());
    let stripe = generate_secret(&Scheme::Stripe { tolerance_secs: 300 });
    assert!(stripe.expose().starts_with("whsec_"));
    let other = generate_secret(&Scheme::Github {});
    assert_eq!(other.expose().len(), 64);
    assert_ne!(other.expose(), generate_secret(&Scheme::Github {}).expose());
    assert_eq!(generate_verify_token().expose().len(), 64);
}

#[test]
fn credential_headers_and_params_are_named_for_redaction() {
    assert!(is_credential_header(
        &Scheme::StandardWebhooks { tolerance_secs: 300 },
        "Webhook-Signature"
    ));
    assert!(!is_credential_header(
        &Scheme::StandardWebhooks { tolerance_secs: 300 },
        "webhook-id"
    ));
    assert!(is_credential_header(
        &Scheme::Stripe { tolerance_secs: 300 },
        "stripe-signature"
    ));
    assert!(is_credential_header(&Scheme::Shopify {}, "X-Shopify-Hmac-Sha256"));
    assert!(is_credential_header(
        &Scheme::Slack { tolerance_secs: 300 },
        "x-slack-signature"
    ));
    assert!(is_credential_header(&Scheme::None {}, "cookie"));
    assert!(is_credential_header(&Scheme::None {}, "Authorization"));
    let api = Scheme::ApiKey(ApiKeyOptions {
        header: Some("X-Token".into()),
        query: None,
    });
    assert!(is_credential_header(&api, "x-token"));
    assert!(!is_credential_header(&api, "content-type"));
    let generic = generic(serde_json::json!({"header": "X-Custom-Sig"}));
    assert!(is_credential_header(&generic, "x-custom-sig"));
    let by_query = Scheme::ApiKey(ApiKeyOptions {
        header: None,
        query: Some("key".into()),
    });
    assert!(is_credential_query_param(&by_query, "key"));
    assert!(is_credential_query_param(&Scheme::Meta {}, "hub.verify_token"));
    assert!(!is_credential_query_param(&Scheme::Meta {}, "hub.challenge"));
}

#[test]
fn an_unvalidated_scheme_is_refused_not_a_panic() {
    let bad: Scheme =
        serde_json::from_str(r#"{"type":"hmac","header":"X Sig\u0000","signed_content":"{nope}"}"#).unwrap();
    assert!(bad.validate().is_err());
    assert_eq!(
        reason(check(&bad, &["k"], &[("x-sig", "00")], None, BODY)),
        RefusalReason::MissingHeader
    );
    let bad_template: Scheme =
        serde_json::from_str(r#"{"type":"hmac","header":"X-Sig","signed_content":"{nope}"}"#).unwrap();
    let sig = hex::encode(sha256(b"k", BODY));
    assert_eq!(
        reason(check(&bad_template, &["k"], &[("x-sig", &sig)], None, BODY)),
        RefusalReason::Malformed
    );
}
