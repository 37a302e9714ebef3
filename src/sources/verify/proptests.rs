//! Whatever a sender puts in the headers, query and body, `verify` and `challenge` answer
//! without panicking, for every preset.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;

use super::*;

/// Every header any preset reads, so arbitrary values reach each parser.
const NAMES: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-sig",
    "x-ts",
    "authorization",
    "x-api-key",
];

fn schemes() -> Vec<Scheme> {
    let json = [
        r#"{"type":"standard-webhooks"}"#,
        r#"{"type":"stripe"}"#,
        r#"{"type":"github"}"#,
        r#"{"type":"shopify"}"#,
        r#"{"type":"slack"}"#,
        r#"{"type":"meta"}"#,
        r#"{"type":"hmac","header":"X-Sig","algorithm":"sha1","prefix":"p="}"#,
        r#"{"type":"hmac","header":"X-Sig","encoding":"base64","algorithm":"sha512","timestamp_header":"X-Ts"}"#,
        r#"{"type":"basic","username":"u"}"#,
        r#"{"type":"api_key","header":"X-Api-Key"}"#,
        r#"{"type":"api_key","header":"Authorization"}"#,
        r#"{"type":"api_key","query":"key"}"#,
        r#"{"type":"none"}"#,
    ];
    json.iter().map(|j| serde_json::from_str(j).unwrap()).collect()
}

/// Header values drawn from signature-like characters and arbitrary bytes alike.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "(t=|v1=|v1,|sha256=|v0=|Basic |Bearer |[0-9]{1,14}|[a-f0-9]{0,70}|[A-Za-z0-9+/=]{0,90}|[ ,=:]){0,12}"
            .prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

proptest! {
    #[test]
    fn verify_and_challenge_never_panic(
        scheme_index in 0usize..13,
        values in proptest::collection::vec((0usize..NAMES.len(), value()), 0..8),
        query in proptest::option::of("[a-z.=&%0-9_]{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        now in any::<i64>(),
        get in any::<bool>(),
    ) {
        let schemes = schemes();
        let scheme = &schemes[scheme_index];
        let mut map = HeaderMap::new();
        for (name, value) in values {
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(NAMES[name]), v);
            }
        }
        let secret = SourceSecret::parse(scheme, &generate_secret(scheme).expose().clone())
            .unwrap()
            .with_verify_token("tok")
            .unwrap();
        let method = if get { Method::GET } else { Method::POST };
        let req = Request { method: &method, headers: &map, query: query.as_deref(), body: &body };
        let verdict = verify(scheme, std::slice::from_ref(&secret), &req, now);
        let _ = challenge(scheme, std::slice::from_ref(&secret), &req, now);
        if !matches!(scheme, Scheme::None {}) {
            prop_assert!(verdict.is_err(), "a random request verified for {}", scheme.name());
        }
    }
}
