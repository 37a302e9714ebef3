//! Standard Webhooks and Stripe, whose headers list several signatures, against signatures
//! computed here with the `hmac` crate directly.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;

use super::verify_tests::{BODY, NOW, WHSEC, check, headers, reason, secrets, sha256};
use super::*;

const OLD_WHSEC: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn whsec_key(text: &str) -> Vec<u8> {
    STANDARD.decode(text.strip_prefix("whsec_").unwrap()).unwrap()
}

fn standard_signature(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(sha256(&whsec_key(secret), &signed)))
}

fn standard() -> Scheme {
    Scheme::StandardWebhooks { tolerance_secs: 300 }
}

#[test]
fn standard_webhooks_matches_the_specification_example() {
    let scheme = standard();
    let pairs = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ];
    let map = headers(&pairs);
    let req = Request {
        method: &Method::POST,
        headers: &map,
        query: None,
        body: br#"{"test": 2432232314}"#,
    };
    let verified = verify(&scheme, &secrets(&scheme, &[WHSEC]), &req, 1614265330).unwrap();
    assert_eq!(verified.signature_id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
}

#[test]
fn standard_webhooks_presets() {
    let s = standard();
    let ts = NOW.to_string();
    let good = standard_signature(WHSEC, "msg_1", NOW, BODY);
    let old = standard_signature(OLD_WHSEC, "msg_1", NOW, BODY);
    let with = |sig: &str, ts: &str| {
        [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
        ]
        .map(|(n, v)| (n, v.to_string()))
    };
    let run_on = |pairs: [(&str, String); 3], keys: &[&str], body: &[u8]| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        check(&s, keys, &pairs, None, body)
    };
    let run = |pairs, keys: &[&str]| run_on(pairs, keys, BODY);
    assert!(run(with(&good, &ts), &[WHSEC]).is_ok());
    assert_eq!(reason(run(with(&good, &ts), &[OLD_WHSEC])), RefusalReason::BadSignature);
    // The sender lists one signature per secret it holds; any one of ours matching is enough.
    let listed = format!("v1,{} v1a,xyz {old}", &good[3..].replace('A', "B"));
    assert!(run(with(&listed, &ts), &[OLD_WHSEC]).is_ok());
    assert!(
        run(with(&old, &ts), &[WHSEC, OLD_WHSEC]).is_ok(),
        "the previous secret verifies in its grace period"
    );
    let stale = (NOW - 301).to_string();
    let stale_sig = standard_signature(WHSEC, "msg_1", NOW - 301, BODY);
    assert_eq!(
        reason(run(with(&stale_sig, &stale), &[WHSEC])),
        RefusalReason::StaleTimestamp
    );
    let future = (NOW + 301).to_string();
    let future_sig = standard_signature(WHSEC, "msg_1", NOW + 301, BODY);
    assert_eq!(
        reason(run(with(&future_sig, &future), &[WHSEC])),
        RefusalReason::FutureTimestamp
    );
    assert_eq!(
        reason(run(with(&good, &(NOW + 1).to_string()), &[WHSEC])),
        RefusalReason::BadSignature,
        "the timestamp is signed"
    );
    assert_eq!(
        reason(check(&s, &[WHSEC], &[("webhook-signature", &good)], None, BODY)),
        RefusalReason::MissingHeader
    );
    for bad in ["", "v2,abc", &"v1,AAAA ".repeat(11), "v1"] {
        assert_eq!(
            reason(run(with(bad, &ts), &[WHSEC])),
            RefusalReason::Malformed,
            "{bad:.40}"
        );
    }
    for bad_ts in ["-1", "1e9", "", "99999999999999"] {
        assert_eq!(
            reason(run(with(&good, bad_ts), &[WHSEC])),
            RefusalReason::Malformed,
            "{bad_ts}"
        );
    }
    assert_eq!(
        reason(run_on(with(&good, &ts), &[WHSEC], b"{}")),
        RefusalReason::BadSignature
    );
}

#[test]
fn standard_webhooks_reads_svix_headers_too() {
    let s = standard();
    let sig = standard_signature(WHSEC, "msg_2", NOW, BODY);
    let pairs = [
        ("svix-id", "msg_2"),
        ("svix-timestamp", &NOW.to_string()),
        ("svix-signature", &sig),
    ];
    let verified = check(&s, &[WHSEC], &pairs, None, BODY).unwrap();
    assert_eq!(verified.signature_id.as_deref(), Some("msg_2"));
}

fn stripe_header(secret: &str, ts: i64, body: &[u8]) -> String {
    format!("t={ts},v1={}", stripe_v1(secret, ts, body))
}

fn stripe_v1(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(body);
    hex::encode(sha256(secret.as_bytes(), &signed))
}

#[test]
fn stripe_preset() {
    let s = Scheme::Stripe { tolerance_secs: 300 };
    let key = "whsec_test_secret_abc";
    let run = |header: &str, keys: &[&str], body: &[u8]| check(&s, keys, &[("stripe-signature", header)], None, body);
    let good = stripe_header(key, NOW, BODY);
    let verified = run(&good, &[key], BODY).unwrap();
    assert!(verified.signature_id.unwrap().starts_with(&format!("{NOW}.")));
    assert_eq!(reason(run(&good, &["whsec_other"], BODY)), RefusalReason::BadSignature);
    assert_eq!(reason(run(&good, &[key], b"{}")), RefusalReason::BadSignature);
    assert!(
        run(&good, &["whsec_new", key], BODY).is_ok(),
        "rotation: the previous secret verifies"
    );
    let several = format!("t={NOW},v1={},v0=zz,v1={}", "0".repeat(64), stripe_v1(key, NOW, BODY));
    assert!(run(&several, &[key], BODY).is_ok(), "one right v1 among several");
    assert_eq!(
        reason(run(&stripe_header(key, NOW - 301, BODY), &[key], BODY)),
        RefusalReason::StaleTimestamp
    );
    assert_eq!(
        reason(run(&stripe_header(key, NOW + 301, BODY), &[key], BODY)),
        RefusalReason::FutureTimestamp
    );
    assert_eq!(reason(check(&s, &[key], &[], None, BODY)), RefusalReason::MissingHeader);
    let too_many = format!("t={NOW}{}", ",v1=00".repeat(11));
    for bad in [
        "",
        "t=1",
        &format!("v1={}", "0".repeat(64)),
        "t=abc,v1=00",
        &too_many,
        &format!("{},t={NOW}", ",".repeat(40)),
    ] {
        assert_eq!(reason(run(bad, &[key], BODY)), RefusalReason::Malformed, "{bad:.40}");
    }
}

#[test]
fn stripe_keys_with_the_secret_text_not_its_decoding() {
    let s = Scheme::Stripe { tolerance_secs: 300 };
    let mut signed = format!("{NOW}.").into_bytes();
    signed.extend_from_slice(BODY);
    let decoded_key_sig = hex::encode(sha256(&whsec_key(WHSEC), &signed));
    let header = format!("t={NOW},v1={decoded_key_sig}");
    assert_eq!(
        reason(check(&s, &[WHSEC], &[("stripe-signature", &header)], None, BODY)),
        RefusalReason::BadSignature
    );
}
