use serde_json::json;

use super::overrides::{phone_status, waba_status};
use super::*;

/// Meta's error body for `code`, as the Cloud API sends it.
fn meta_error(code: i64, message: &str, details: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AbCdEfGh123"
    }}))
    .unwrap()
}

fn permanent_code(e: &CallError) -> Option<i64> {
    match e {
        CallError::Permanent { code, .. } => Some(*code),
        _ => None,
    }
}

#[test]
fn rate_limits_wait_the_code_default_or_the_header() {
    let cases: &[(u16, i64, Option<&str>, u64)] = &[
        (400, 130429, None, 1),
        (400, 131056, None, 6),
        (400, 131048, None, 60),
        (400, 4, None, 60),
        (400, 80007, None, 60),
        (400, 613, None, 60),
        (400, 80004, None, 60),
        (429, 130429, Some("17"), 17),
        (400, 131056, Some(" 9 "), 9),
        // Clamped to 1 s .. 1 h.
        (400, 131048, Some("0"), 1),
        (400, 4, Some("99999"), 3600),
        // A header that is not seconds (an HTTP date) leaves the default.
        (400, 131056, Some("Wed, 21 Oct 2015 07:28:00 GMT"), 6),
    ];
    for (status, code, header, want) in cases {
        let body = meta_error(*code, "(#x) Rate limit hit", "too many");
        assert_eq!(
            classify(*status, &body, *header),
            CallError::RetryAfter(*want),
            "{status} {code} {header:?}"
        );
    }
}

#[test]
fn http_429_without_a_known_code_waits_five_seconds_or_the_header() {
    let body = meta_error(100, "(#100) Invalid parameter", "x");
    assert_eq!(classify(429, &body, None), CallError::RetryAfter(5));
    assert_eq!(classify(429, b"slow down", None), CallError::RetryAfter(5));
    assert_eq!(classify(429, b"", Some("30")), CallError::RetryAfter(30));
    assert_eq!(classify(429, b"", Some("7200")), CallError::RetryAfter(3600));
}

#[test]
fn re_engagement_is_outside_the_window_and_keeps_the_error() {
    let body = meta_error(
        131047,
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    );
    match classify(400, &body, None) {
        CallError::OutsideWindow(text) => {
            assert!(text.contains("131047") && text.contains("24 hours"), "{text}");
            let parsed: Value = serde_json::from_str(&text).expect("compact JSON");
            assert_eq!(parsed["code"], 131047);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn transient_codes_and_server_errors_retry() {
    for code in [1, 2, 131000, 131016] {
        let e = classify(400, &meta_error(code, "(#x) Something went wrong", "d"), None);
        assert!(
            matches!(e, CallError::Transient(ref t) if t.contains(&code.to_string())),
            "{code}: {e:?}"
        );
    }
    let e = classify(503, &meta_error(100, "(#100) Invalid parameter", "d"), None);
    assert!(matches!(e, CallError::Transient(_)), "{e:?}");
    // Permission codes stay permanent even when Meta answers them with a 500 (code 3 does).
    let e = classify(500, &meta_error(3, "(#3) Capability or permissions issue", "d"), None);
    assert_eq!(permanent_code(&e), Some(3));
}

#[test]
fn everything_else_is_permanent_with_meta_code_and_error_object() {
    for code in [
        131026, 131051, 131052, 131053, 100, 190, 10, 200, 133010, 131009, 131021, 368,
    ] {
        let body = meta_error(code, &format!("(#{code}) Some title"), "Some details from Meta.");
        let e = classify(400, &body, None);
        let CallError::Permanent { code: got, description } = &e else {
            panic!("{code}: {e:?}")
        };
        assert_eq!(*got, code);
        let kept: Value = serde_json::from_str(description).expect("the error object as JSON");
        assert_eq!(kept["error_data"]["details"], "Some details from Meta.");
        assert_eq!(kept["fbtrace_id"], "AbCdEfGh123");
        assert!(!description.contains('\n'), "compact");
    }
}

#[test]
fn code_defaults_to_the_status_and_may_be_a_string() {
    let body = serde_json::to_vec(&json!({"error": {"message": "no code"}})).unwrap();
    assert_eq!(permanent_code(&classify(404, &body, None)), Some(404));
    let body = serde_json::to_vec(&json!({"error": {"message": "m", "code": "131053"}})).unwrap();
    assert_eq!(permanent_code(&classify(400, &body, None)), Some(131053));
    // A 2xx carrying an error without a code says only that something failed.
    assert!(matches!(
        classify(200, &body_without_code(), None),
        CallError::Transient(_)
    ));
}

fn body_without_code() -> Vec<u8> {
    serde_json::to_vec(&json!({"error": {"message": "odd"}})).unwrap()
}

#[test]
fn long_error_objects_are_cut_to_two_thousand_characters() {
    let details = "é".repeat(5_000);
    let e = classify(
        400,
        &meta_error(131026, "(#131026) Message undeliverable", &details),
        None,
    );
    let CallError::Permanent { description, .. } = e else {
        panic!()
    };
    assert_eq!(description.chars().count(), errors_max());
    assert!(
        description.starts_with("{\"message\":\"(#131026)"),
        "{}",
        &description[..40]
    );
}

fn errors_max() -> usize {
    super::errors::MAX_DESCRIPTION_CHARS
}

#[test]
fn answers_that_are_not_json_go_by_status() {
    let html = format!("<html>\n<body>{}</body></html>", "x".repeat(1_000));
    match classify(502, html.as_bytes(), None) {
        CallError::Transient(t) => {
            assert!(t.starts_with("HTTP 502: <html> <body>xx"), "{t}");
            assert!(t.chars().count() <= 300 + "HTTP 502: ".len(), "{}", t.len());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        classify(404, b"Not Found", None),
        CallError::Permanent {
            code: 404,
            description: "HTTP 404: Not Found".into()
        }
    );
    assert_eq!(
        classify(403, b"", None),
        CallError::Permanent {
            code: 403,
            description: "HTTP 403".into()
        }
    );
    // JSON without an error object is no better than text.
    assert_eq!(permanent_code(&classify(400, b"[1,2]", None)), Some(400));
    assert!(matches!(
        classify(400, &[0xff, 0xfe, 0x00], None),
        CallError::Permanent { code: 400, .. }
    ));
}

#[test]
fn rejected_media_ids_are_recognised() {
    let rejected = |code, message: &str, details: &str| classify(400, &meta_error(code, message, details), None);
    assert!(rejected(131053, "(#131053) Media upload error", "x").is_rejected_media_id());
    assert!(rejected(131052, "(#131052) Media download error", "x").is_rejected_media_id());
    assert!(
        rejected(
            100,
            "(#100) Invalid parameter",
            "Param image['id'] is not a valid media_id"
        )
        .is_rejected_media_id()
    );
    assert!(rejected(100, "(#100) Invalid parameter", "Invalid media ID 12345").is_rejected_media_id());
    // "id" must be a word: "invalid", "fbtrace_id" and the key names do not count.
    assert!(
        !rejected(
            100,
            "(#100) Invalid parameter",
            "Param image['link'] must be a media URL"
        )
        .is_rejected_media_id()
    );
    assert!(!rejected(131026, "(#131026) Message undeliverable", "media id").is_rejected_media_id());
    assert!(!CallError::Transient("media id".into()).is_rejected_media_id());
    // A description cut at the cap is read as text.
    let cut = CallError::Permanent {
        code: 100,
        description: "{\"message\":\"Unknown media id 1\",\"fbtrace_id\":\"x".into(),
    };
    assert!(cut.is_rejected_media_id());
}

#[test]
fn permission_refusals_are_recognised() {
    for code in [3, 10, 190, 200, 299] {
        let e = classify(403, &meta_error(code, "(#x) Permission error", "d"), None);
        assert!(e.is_permission_denied(), "{code}");
    }
    let with = classify(
        400,
        &meta_error(100, "(#100) Invalid parameter", "Missing Permission"),
        None,
    );
    assert!(with.is_permission_denied());
    let without = classify(400, &meta_error(100, "(#100) Invalid parameter", "bad url"), None);
    assert!(!without.is_permission_denied());
    assert!(!classify(400, &meta_error(131053, "m", "d"), None).is_permission_denied());
    // An HTTP 403 page without Meta's code is not a known permission refusal.
    assert!(!classify(403, b"Forbidden", None).is_permission_denied());
}

#[test]
fn ids_are_checked_before_they_reach_a_path() {
    for ok in ["106540352242922", "v21.0", "wamid.HBgL_a-b", &"9".repeat(128)] {
        assert!(valid_id(ok), "{ok}");
    }
    for bad in [
        "",
        ".",
        "..",
        "...",
        "a/b",
        "a?b",
        "a#b",
        "a b",
        "a%2Fb",
        "é",
        "a\nb",
        "@evil.example",
        &"9".repeat(129),
    ] {
        assert!(!valid_id(bad), "{bad:?}");
    }
    let api = GraphApi::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
    let err = api.url("v21.0", "../x", Some("messages")).unwrap_err();
    assert!(matches!(&err, CallError::Permanent { code: 0, description } if description.contains("object id")));
    assert!(api.url("v21/0", "1", None).is_err());
    assert_eq!(
        api.url(DEFAULT_VERSION, "42", Some("media")).unwrap(),
        "http://127.0.0.1:9/v21.0/42/media"
    );
}

#[test]
fn base_urls_must_be_plain_http_or_https() {
    assert_eq!(
        GraphApi::new("https://graph.facebook.com/", Duration::from_secs(1))
            .unwrap()
            .base_url(),
        "https://graph.facebook.com"
    );
    for bad in ["graph.facebook.com", "ftp://x", "https://x/?a=b", "https://x/#f", ""] {
        assert!(GraphApi::new(bad, Duration::from_secs(1)).is_err(), "{bad}");
    }
}

#[test]
fn file_names_are_made_header_safe() {
    assert_eq!(clean_file_name("report.pdf"), "report.pdf");
    assert_eq!(clean_file_name("a\"b\\c\r\nd.txt"), "abcd.txt");
    assert_eq!(clean_file_name("  "), "file");
    assert_eq!(clean_file_name(&"x".repeat(1000)).len(), MAX_FILE_NAME_CHARS);
}

#[test]
fn bad_tokens_are_refused_without_being_shown() {
    let err = bearer(&Secret::new("abc\ndef-secret".into())).unwrap_err();
    assert!(!format!("{err:?} {err}").contains("secret"));
    assert!(bearer(&Secret::new(String::new())).is_err());
    assert!(bearer(&Secret::new("EAAG-ok".into())).unwrap().is_sensitive());
}

#[test]
fn redaction_covers_every_text_variant() {
    let token = "EAAG-super-secret-token";
    let errors = [
        CallError::Transient(format!("echo {token}")),
        CallError::Permanent {
            code: 1,
            description: format!("{token}!"),
        },
        CallError::Blocked(token.into()),
        CallError::OutsideWindow(format!("[{token}]")),
    ];
    for e in errors {
        let e = redact(e, token);
        assert!(!format!("{e:?} {e}").contains(token), "{e:?}");
        assert!(format!("{e}").contains("[redacted]"));
    }
}

#[test]
fn debug_shows_only_the_base() {
    let api = GraphApi::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
    assert_eq!(format!("{api:?}"), "GraphApi { base: \"http://127.0.0.1:9\", .. }");
    assert_eq!(api.timeout(), Duration::from_secs(1));
}

#[test]
fn override_status_reads_the_first_level_with_a_url() {
    let all = json!({"webhook_configuration": {"phone_number": "https://p/w", "whatsapp_business_account": "https://w/w",
        "application": "https://a/w"}, "id": "1"});
    let status = phone_status(&all);
    assert_eq!(status.callback_url.as_deref(), Some("https://p/w"));
    assert_eq!(status.level.as_deref(), Some("phone_number"));
    let waba =
        json!({"webhook_configuration": {"whatsapp_business_account": "https://w/w", "application": "https://a/w"}});
    assert_eq!(phone_status(&waba).level.as_deref(), Some("whatsapp_business_account"));
    let app = json!({"webhook_configuration": {"phone_number": "", "application": "https://a/w"}});
    assert_eq!(phone_status(&app).callback_url.as_deref(), Some("https://a/w"));
    assert_eq!(phone_status(&json!({"id": "1"})), OverrideStatus::default());

    let apps = json!({"data": [{"whatsapp_business_api_data": {"id": "1", "name": "Other"}},
        {"whatsapp_business_api_data": {"id": "2"}, "override_callback_uri": "https://o/w"}]});
    let status = waba_status(&apps);
    assert_eq!(status.callback_url.as_deref(), Some("https://o/w"));
    assert_eq!(status.level.as_deref(), Some("whatsapp_business_account"));
    assert_eq!(waba_status(&json!({"data": []})), OverrideStatus::default());
    assert_eq!(waba_status(&json!({"data": "x"})), OverrideStatus::default());
}

#[test]
fn media_info_needs_only_a_url() {
    let full = json!({"messaging_product": "whatsapp", "url": "https://l/x", "mime_type": "image/jpeg",
        "sha256": "ab", "file_size": 12, "id": "1"});
    assert_eq!(
        MediaInfo::from_answer(&full),
        Some(MediaInfo {
            url: "https://l/x".into(),
            mime_type: Some("image/jpeg".into()),
            file_size: Some(12),
            sha256: Some("ab".into()),
        })
    );
    assert_eq!(
        MediaInfo::from_answer(&json!({"url": "u", "file_size": "34"})).and_then(|m| m.file_size),
        Some(34)
    );
    assert_eq!(MediaInfo::from_answer(&json!({"url": ""})), None);
    assert_eq!(MediaInfo::from_answer(&json!({"id": "1"})), None);
}
