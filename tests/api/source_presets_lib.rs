//! The inbound source presets against requests signed by the providers' own libraries (Stripe's
//! `stripe`, `standardwebhooks`, Slack's `slack_sdk`) and, for GitHub, Shopify, Meta and the
//! generic preset, which publish no signing library, by Python's `hmac` as their docs describe.
//! Each must verify, the same with its body changed must not, and one signed too long ago must
//! be refused as stale.
//!
//! Needs `HOOKLINE_TEST_PYTHON`, a python with `.ci/requirements.txt` installed; without it the
//! test says it skipped, except under `CI=true`, where it fails.

use std::process::{Command, Stdio};

use hookline::sources::verify::{RefusalReason, Request, Scheme, SourceSecret, verify};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;

/// The time the cases are verified at, and signed around.
const NOW: i64 = 1_765_000_000;

const SCRIPT: &str = r#"
import base64, hashlib, hmac, json, sys
from datetime import datetime, timezone

import stripe
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

now = int(sys.argv[1])
body = '{"id":"evt_1","text":"Привет, мир","amount":1.5}'
cases = []

def case(name, scheme, secret, headers, expect="ok"):
    cases.append({"name": name, "scheme": scheme, "secret": secret, "headers": headers,
                  "body": body, "expect": expect})

def mac(key, data, algorithm=hashlib.sha256):
    return hmac.new(key.encode(), data.encode(), algorithm).digest()

stripe_secret = "whsec_2HnbKV8Q0fVq7cC4XJ9m1sZr0QbE1y9w"
for at, expect in [(now, "ok"), (now - 301, "stale_timestamp")]:
    header = stripe.WebhookSignature.generate_signature_header(body, stripe_secret, timestamp=at)
    case("stripe", {"type": "stripe"}, stripe_secret, {"Stripe-Signature": header}, expect)

sw_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
for at, expect in [(now, "ok"), (now - 301, "stale_timestamp"), (now + 301, "future_timestamp")]:
    sig = Webhook(sw_secret).sign("msg_2b3c", datetime.fromtimestamp(at, tz=timezone.utc), body)
    headers = {"webhook-id": "msg_2b3c", "webhook-timestamp": str(at), "webhook-signature": sig}
    case("standard-webhooks", {"type": "standard-webhooks"}, sw_secret, headers, expect)

slack_secret = "8f742231b10e8888abcd99yyyzzz85a5"
for at, expect in [(now, "ok"), (now - 301, "stale_timestamp")]:
    sig = SignatureVerifier(slack_secret).generate_signature(timestamp=str(at), body=body)
    headers = {"X-Slack-Request-Timestamp": str(at), "X-Slack-Signature": sig}
    case("slack", {"type": "slack"}, slack_secret, headers, expect)

gh = "sha256=" + mac("gh-secret", body).hex()
case("github", {"type": "github"}, "gh-secret", {"X-Hub-Signature-256": gh})
meta = "sha256=" + mac("meta-app-secret", body).hex()
case("meta", {"type": "meta"}, "meta-app-secret", {"X-Hub-Signature-256": meta})
shopify = base64.b64encode(mac("shpss_secret", body)).decode()
case("shopify", {"type": "shopify"}, "shpss_secret", {"X-Shopify-Hmac-Sha256": shopify})

sha1 = "sha1=" + mac("k1", body, hashlib.sha1).hex()
case("hmac sha1", {"type": "hmac", "header": "X-Hub-Signature", "algorithm": "sha1", "prefix": "sha1="},
     "k1", {"X-Hub-Signature": sha1})
signed = f"{now}:{body}"
sha512 = base64.b64encode(mac("k2", signed, hashlib.sha512)).decode()
case("hmac sha512", {"type": "hmac", "header": "X-Sig", "algorithm": "sha512", "encoding": "base64",
     "timestamp_header": "X-Ts", "signed_content": "{timestamp}:{body}"}, "k2", {"X-Sig": sha512, "X-Ts": str(now)})

json.dump(cases, sys.stdout)
"#;

#[derive(Deserialize)]
struct Case {
    name: String,
    scheme: Scheme,
    secret: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
    expect: String,
}

fn signed_cases(python: &str) -> Vec<Case> {
    let out = Command::new(python)
        .args(["-c", SCRIPT, &NOW.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run the python signer");
    assert!(
        out.status.success(),
        "the python signer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the signer's cases")
}

/// `verify`'s verdict on `case` with `body`: `"ok"` or the refusal's reason.
fn verdict(case: &Case, body: &[u8]) -> String {
    case.scheme.validate().expect("a valid scheme");
    let secret = SourceSecret::parse(&case.scheme, &case.secret).expect("a valid secret");
    let mut headers = HeaderMap::new();
    for (name, value) in &case.headers {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let req = Request {
        method: &Method::POST,
        headers: &headers,
        query: None,
        body,
    };
    match verify(&case.scheme, &[secret], &req, NOW) {
        Ok(_) => "ok".to_string(),
        Err(refusal) => refusal.reason.as_str().to_string(),
    }
}

#[test]
fn providers_libraries_signatures_verify() {
    let Some(python) = crate::python::python("providers_libraries_signatures_verify") else {
        return;
    };
    let cases = signed_cases(&python);
    assert_eq!(cases.len(), 12, "every preset's cases");
    for case in &cases {
        assert_eq!(verdict(case, case.body.as_bytes()), case.expect, "{}", case.name);
        if case.expect == "ok" {
            let tampered = format!("{} ", case.body);
            let reason = RefusalReason::BadSignature.as_str();
            assert_eq!(
                verdict(case, tampered.as_bytes()),
                reason,
                "{} with its body changed",
                case.name
            );
        }
    }
}
