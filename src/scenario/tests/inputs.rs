//! Table tests for typed input validation, one block per `expected_input.type`.

use serde_json::{Value, json};

use super::super::input::{is_email, normalise_phone, validate};
use super::super::problem::Sink;
use super::super::rules::{self, ExpectedInput};
use super::super::types::{Input, MediaInput, MediaKind, RejectReason};

fn exp(v: Value) -> ExpectedInput {
    let mut problems = Vec::new();
    let mut sink = Sink {
        problems: &mut problems,
        step: None,
    };
    let e = rules::compile(&v, false, &mut sink);
    assert!(
        problems.iter().all(|p| p.severity != super::super::Severity::Error),
        "{problems:?}"
    );
    e.expect("compiles")
}

fn text(e: &ExpectedInput, t: &str) -> Result<Value, (RejectReason, String)> {
    validate(e, &Input::Text(t.into()))
}

#[test]
fn text_rules() {
    let e = exp(json!({"type": "text", "validation": {
        "pattern": "\\d{2}\\.\\d{2}\\s\\d{2}:\\d{2}", "error_message": "формат ДД.ММ ЧЧ:ММ"}}));
    assert_eq!(text(&e, "10.06 10:00"), Ok(json!("10.06 10:00")));
    assert_eq!(text(&e, "  10.06 10:00 "), Ok(json!("10.06 10:00")));
    assert_eq!(
        text(&e, "tomorrow"),
        Err((RejectReason::Invalid, "формат ДД.ММ ЧЧ:ММ".into()))
    );
    assert!(text(&e, "10.06 10:00x").is_err(), "anchored at both ends");
    let e =
        exp(json!({"type": "text", "validation": {"min_length": 2, "max_length": 4, "max_length_error": "короче"}}));
    assert_eq!(text(&e, "Ян"), Ok(json!("Ян")), "characters, not bytes");
    assert_eq!(
        text(&e, "Я"),
        Err((RejectReason::Invalid, "Input must be at least 2 characters.".into()))
    );
    assert_eq!(text(&e, "Ярослав"), Err((RejectReason::Invalid, "короче".into())));
    let e = exp(json!({"type": "text", "validation": {"pattern": "[a-z]+"}}));
    assert_eq!(
        text(&e, "ABC"),
        Err((RejectReason::Invalid, "Input format is not valid.".into()))
    );
    let loc = validate(
        &e,
        &Input::Location {
            latitude: 1.0,
            longitude: 2.0,
        },
    );
    assert_eq!(
        loc,
        Err((RejectReason::WrongInputType, "Please send a text message.".into()))
    );
}

#[test]
fn number_rules() {
    let e =
        exp(json!({"type": "number", "validation": {"min_value": 1, "max_value": 10.5, "min_value_error": "мало"}}));
    assert_eq!(text(&e, "5"), Ok(json!(5)));
    assert_eq!(text(&e, " 2.5 "), Ok(json!(2.5)));
    assert_eq!(text(&e, "3,5"), Ok(json!(3.5)));
    assert_eq!(text(&e, "0"), Err((RejectReason::Invalid, "мало".into())));
    assert_eq!(
        text(&e, "11"),
        Err((RejectReason::Invalid, "Value must not exceed 10.5.".into()))
    );
    for bad in ["abc", "inf", "NaN", "", "1,2,3", "0x10"] {
        assert_eq!(
            text(&e, bad),
            Err((RejectReason::Invalid, "Please enter a number.".into())),
            "{bad}"
        );
    }
}

#[test]
fn date_rules() {
    let e = exp(
        json!({"type": "date", "validation": {"format": "%d.%m.%Y", "min_date": "2024-01-01", "max_date": "31.12.2025"}}),
    );
    assert_eq!(text(&e, "10.06.2024"), Ok(json!("2024-06-10")));
    assert_eq!(text(&e, "1.6.2024"), Ok(json!("2024-06-01")));
    assert_eq!(text(&e, "29.02.2024"), Ok(json!("2024-02-29")));
    let fmt_err = "Please enter a date in the format DD.MM.YYYY, for example 31.12.2024.";
    for bad in [
        "29.02.2025",
        "32.01.2024",
        "10/06/2024",
        "10.06.24",
        "tomorrow",
        "10.06.2024 x",
    ] {
        assert_eq!(text(&e, bad), Err((RejectReason::Invalid, fmt_err.into())), "{bad}");
    }
    assert_eq!(
        text(&e, "31.12.2023"),
        Err((
            RejectReason::Invalid,
            "The date must not be earlier than 01.01.2024.".into()
        ))
    );
    assert_eq!(
        text(&e, "01.01.2026"),
        Err((
            RejectReason::Invalid,
            "The date must not be later than 31.12.2025.".into()
        ))
    );
    let e = exp(json!({"type": "date"}));
    assert_eq!(text(&e, "2024-06-10"), Ok(json!("2024-06-10")));
    let e = exp(json!({"type": "date", "validation": {"format": "%d.%m.%y %H:%M"}}));
    assert_eq!(text(&e, "10.06.24 9:05"), Ok(json!("2024-06-10 09:05")));
    assert!(text(&e, "10.06.24 24:00").is_err());
}

#[test]
fn email_rules() {
    let e = exp(json!({"type": "email", "validation": {"error_message": "нужен email"}}));
    assert_eq!(text(&e, " anna@example.com "), Ok(json!("anna@example.com")));
    assert_eq!(text(&e, "anna@"), Err((RejectReason::Invalid, "нужен email".into())));
    for (s, ok) in [
        ("a@b.co", true),
        ("a.b+c@mail.example.ru", true),
        ("a@b", false),
        ("@b.co", false),
        ("a b@c.de", false),
        ("a@@b.de", false),
        ("a@b..de", false),
        ("почта@пример.рф", true),
    ] {
        assert_eq!(is_email(s), ok, "{s}");
    }
}

#[test]
fn phone_rules() {
    let e = exp(json!({"type": "phone"}));
    assert_eq!(text(&e, "8 (916) 123-45-67"), Ok(json!("+79161234567")));
    assert_eq!(text(&e, "+7 916 123 45 67"), Ok(json!("+79161234567")));
    assert_eq!(text(&e, "0049 30 1234567"), Ok(json!("+49301234567")));
    assert!(text(&e, "12345").is_err());
    assert!(text(&e, "+7 916 abc 45 67").is_err());
    let contact = Input::Contact {
        phone_number: "79161234567".into(),
        first_name: None,
        user_id: Some(1),
    };
    assert_eq!(validate(&e, &contact), Ok(json!("+79161234567")));
    assert_eq!(normalise_phone("1234567890123456"), None, "more than 15 digits");
    assert_eq!(normalise_phone("2025550143"), Some("+2025550143".into()));
}

#[test]
fn button_rules() {
    let e = exp(json!({"type": "button", "validation": {"allowed_values": ["a", "b"]}}));
    assert_eq!(validate(&e, &Input::Button("a".into())), Ok(json!("a")));
    assert_eq!(text(&e, "b"), Ok(json!("b")));
    assert_eq!(
        text(&e, "c"),
        Err((
            RejectReason::InvalidButton,
            "Please choose one of the offered options.".into()
        ))
    );
}

#[test]
fn location_and_contact_rules() {
    let e = exp(json!({"type": "location"}));
    let loc = Input::Location {
        latitude: 55.75,
        longitude: 37.62,
    };
    assert_eq!(validate(&e, &loc), Ok(json!({"latitude": 55.75, "longitude": 37.62})));
    assert_eq!(
        text(&e, "Москва"),
        Err((RejectReason::WrongInputType, "Please share a location.".into()))
    );
    assert!(
        validate(
            &e,
            &Input::Location {
                latitude: 91.0,
                longitude: 0.0
            }
        )
        .is_err()
    );
    let e = exp(json!({"type": "contact", "validation": {"error_message": "поделись контактом"}}));
    let c = Input::Contact {
        phone_number: "8 916 123 45 67".into(),
        first_name: Some("Анна".into()),
        user_id: Some(7),
    };
    assert_eq!(
        validate(&e, &c),
        Ok(json!({"phone_number": "+79161234567", "first_name": "Анна", "user_id": 7}))
    );
    assert_eq!(
        text(&e, "+79161234567"),
        Err((RejectReason::WrongInputType, "поделись контактом".into()))
    );
}

fn media(kind: MediaKind, name: Option<&str>, ct: Option<&str>, size: Option<u64>) -> Input {
    Input::Media(MediaInput {
        kind,
        media_id: Some("F1".into()),
        file_name: name.map(str::to_string),
        content_type: ct.map(str::to_string),
        size,
        caption: Some("скан".into()),
        download_limit_kb: None,
    })
}

#[test]
fn file_rules() {
    let e = exp(json!({"type": "file", "validation": {"allowed_types": ["pdf", "image/*"], "max_size_kb": 100}}));
    let pdf = media(
        MediaKind::Document,
        Some("passport.PDF"),
        Some("application/pdf"),
        Some(2048),
    );
    assert_eq!(
        validate(&e, &pdf),
        Ok(
            json!({"kind": "document", "media_id": "F1", "file_name": "passport.PDF", "content_type": "application/pdf", "size": 2048, "caption": "скан"})
        )
    );
    assert!(
        validate(&e, &media(MediaKind::Photo, None, None, Some(10))).is_ok(),
        "photos are image/jpeg"
    );
    let doc = media(MediaKind::Document, Some("a.docx"), Some("application/msword"), Some(1));
    assert_eq!(
        validate(&e, &doc),
        Err((
            RejectReason::Invalid,
            "This file type is not allowed. Allowed: pdf, image/*.".into()
        ))
    );
    let big = media(MediaKind::Document, Some("a.pdf"), None, Some(200 * 1024));
    assert_eq!(
        validate(&e, &big),
        Err((RejectReason::Invalid, "The file is too large (at most 100 KB).".into()))
    );
    assert_eq!(
        text(&e, "вот файл"),
        Err((RejectReason::WrongInputType, "Please send a file.".into()))
    );
    let e = exp(json!({"type": "photo"}));
    assert!(validate(&e, &media(MediaKind::Photo, None, None, None)).is_ok());
    assert!(validate(&e, &media(MediaKind::Document, Some("x.png"), Some("image/png"), None)).is_ok());
    assert_eq!(
        validate(&e, &media(MediaKind::Video, None, None, None)),
        Err((RejectReason::WrongInputType, "Please send a photo.".into()))
    );
    let e = exp(json!({"type": "document", "validation": {"allowed_types": ["video"]}}));
    assert!(validate(&e, &media(MediaKind::Photo, None, None, None)).is_err());
    let e = exp(json!({"type": "file", "validation": {"allowed_types": ["video"]}}));
    assert!(
        validate(&e, &media(MediaKind::Video, None, None, None)).is_ok(),
        "kinds match too"
    );
}

#[test]
fn a_file_over_the_platform_download_limit_is_refused_even_without_max_size() {
    let with_limit = |size| {
        let Input::Media(mut m) = media(MediaKind::Document, Some("big.pdf"), None, Some(size)) else {
            unreachable!()
        };
        m.download_limit_kb = Some(20 * 1024);
        Input::Media(m)
    };
    let e = exp(json!({"type": "file"}));
    assert_eq!(
        validate(&e, &with_limit(25 * 1024 * 1024)),
        Err((
            RejectReason::Invalid,
            "The file is too large (at most 20480 KB).".into()
        ))
    );
    assert!(
        validate(&e, &with_limit(20 * 1024 * 1024)).is_ok(),
        "the limit itself is allowed"
    );
    let e = exp(json!({"type": "file", "validation": {"max_size_error": "Слишком большой файл"}}));
    assert_eq!(
        validate(&e, &with_limit(25 * 1024 * 1024)),
        Err((RejectReason::Invalid, "Слишком большой файл".into())),
        "the step's own message is used"
    );
}
