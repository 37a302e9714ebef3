//! The scheme as an API client writes it, and what `validate` refuses.

use super::*;

fn parse(json: &str) -> Result<Scheme, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn presets_parse_with_the_providers_defaults() {
    assert_eq!(
        parse(r#"{"type":"stripe"}"#).unwrap(),
        Scheme::Stripe { tolerance_secs: 300 }
    );
    assert_eq!(
        parse(r#"{"type":"standard-webhooks","tolerance_secs":60}"#).unwrap(),
        Scheme::StandardWebhooks { tolerance_secs: 60 }
    );
    assert_eq!(parse(r#"{"type":"github"}"#).unwrap(), Scheme::Github {});
    assert_eq!(parse(r#"{"type":"none"}"#).unwrap(), Scheme::None {});
    let api = parse(r#"{"type":"api_key","query":"token"}"#).unwrap();
    assert_eq!(
        api,
        Scheme::ApiKey(ApiKeyOptions {
            header: None,
            query: Some("token".into())
        })
    );
    let Scheme::Hmac(h) = parse(r#"{"type":"hmac","header":"X-Sig"}"#).unwrap() else {
        panic!("hmac")
    };
    assert_eq!(
        (h.algorithm, h.encoding, h.tolerance_secs),
        (Algorithm::Sha256, Encoding::Hex, 300)
    );
    let round_trip = serde_json::to_string(&Scheme::Slack { tolerance_secs: 300 }).unwrap();
    assert_eq!(round_trip, r#"{"type":"slack","tolerance_secs":300}"#);
}

#[test]
fn unknown_fields_and_missing_types_are_refused() {
    for json in [
        r#"{}"#,
        r#"{"type":"unknown"}"#,
        r#"{"type":"github","secret":"x"}"#,
        r#"{"type":"stripe","tolerance":5}"#,
        r#"{"type":"hmac","header":"X","bogus":1}"#,
        r#"{"type":"api_key","header":"X","extra":1}"#,
        r#"{"type":"hmac","header":"X","algorithm":"md5"}"#,
        r#"{"type":"basic"}"#,
    ] {
        assert!(parse(json).is_err(), "{json}");
    }
}

fn field_of(json: &str) -> &'static str {
    parse(json).unwrap().validate().expect_err(json).field
}

#[test]
fn validate_names_the_bad_field() {
    let cases = [
        (r#"{"type":"stripe","tolerance_secs":0}"#, "tolerance_secs"),
        (r#"{"type":"slack","tolerance_secs":86401}"#, "tolerance_secs"),
        (r#"{"type":"hmac","header":"X Sig"}"#, "header"),
        (r#"{"type":"hmac","header":""}"#, "header"),
        (r#"{"type":"hmac","header":"X:"}"#, "header"),
        (
            r#"{"type":"hmac","header":"X","timestamp_header":"T\n"}"#,
            "timestamp_header",
        ),
        (r#"{"type":"hmac","header":"X","prefix":"é"}"#, "prefix"),
        (
            r#"{"type":"hmac","header":"X","signed_content":"{id}.{body}"}"#,
            "signed_content",
        ),
        (
            r#"{"type":"hmac","header":"X","signed_content":"{body}{body}"}"#,
            "signed_content",
        ),
        (
            r#"{"type":"hmac","header":"X","signed_content":"nobody"}"#,
            "signed_content",
        ),
        (
            r#"{"type":"hmac","header":"X","signed_content":"{body}}"}"#,
            "signed_content",
        ),
        (
            r#"{"type":"hmac","header":"X","signed_content":"{timestamp}.{body}"}"#,
            "signed_content",
        ),
        (
            r#"{"type":"hmac","header":"X","timestamp_header":"T","signed_content":"{body}"}"#,
            "signed_content",
        ),
        (
            r#"{"type":"hmac","header":"X","timestamp_header":"T","tolerance_secs":0}"#,
            "tolerance_secs",
        ),
        (r#"{"type":"api_key"}"#, "header"),
        (r#"{"type":"api_key","header":"X","query":"k"}"#, "header"),
        (r#"{"type":"api_key","query":""}"#, "query"),
        (r#"{"type":"basic","username":"a:b"}"#, "username"),
        (r#"{"type":"basic","username":""}"#, "username"),
    ];
    for (json, field) in cases {
        assert_eq!(field_of(json), field, "{json}");
    }
    let long_header = format!(r#"{{"type":"hmac","header":"{}"}}"#, "x".repeat(101));
    assert_eq!(field_of(&long_header), "header");
    let long_template = format!(
        r#"{{"type":"hmac","header":"X","signed_content":"{}{{body}}"}}"#,
        "x".repeat(200)
    );
    assert_eq!(field_of(&long_template), "signed_content");
}

#[test]
fn validate_accepts_the_documented_forms() {
    for json in [
        r#"{"type":"hmac","header":"X-Sig","prefix":"sha256=","algorithm":"sha512","encoding":"base64"}"#,
        r#"{"type":"hmac","header":"X-Sig","timestamp_header":"X-Ts","signed_content":"v0:{timestamp}:{body}"}"#,
        r#"{"type":"hmac","header":"X-Sig","timestamp_header":"X-Ts"}"#,
        r#"{"type":"api_key","header":"Authorization"}"#,
        r#"{"type":"basic","username":"shop"}"#,
        r#"{"type":"meta"}"#,
        r#"{"type":"shopify"}"#,
        r#"{"type":"standard-webhooks"}"#,
    ] {
        assert_eq!(parse(json).unwrap().validate(), Ok(()), "{json}");
    }
}
