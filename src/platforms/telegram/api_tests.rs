use serde_json::json;

use super::*;

fn body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn classification_table() {
    let cases: Vec<(u16, Vec<u8>, Result<Value, CallError>)> = vec![
        (
            200,
            body(json!({"ok": true, "result": {"message_id": 5}})),
            Ok(json!({"message_id": 5})),
        ),
        (
            429,
            body(
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}),
            ),
            Err(CallError::RetryAfter(7)),
        ),
        (
            429,
            body(json!({"ok": false, "error_code": 429, "description": "Too Many Requests"})),
            Err(CallError::RetryAfter(1)),
        ),
        (429, b"<html>".to_vec(), Err(CallError::RetryAfter(1))),
        (
            400,
            body(
                json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": -1001234}}),
            ),
            Err(CallError::Migrated(-1001234)),
        ),
        (
            403,
            body(json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})),
            Err(CallError::Blocked("Forbidden: bot was blocked by the user".into())),
        ),
        (
            502,
            b"Bad Gateway".to_vec(),
            Err(CallError::Transient("unexpected answer (HTTP 502)".into())),
        ),
        (
            500,
            body(json!({"ok": false, "error_code": 500, "description": "Internal Server Error"})),
            Err(CallError::Transient("500: Internal Server Error".into())),
        ),
        (
            400,
            body(
                json!({"ok": false, "error_code": 400, "description": "Bad Request: wrong file identifier/HTTP URL specified"}),
            ),
            Err(CallError::Permanent {
                code: 400,
                description: "Bad Request: wrong file identifier/HTTP URL specified".into(),
            }),
        ),
        (
            404,
            b"".to_vec(),
            Err(CallError::Permanent {
                code: 404,
                description: "unexpected answer (HTTP 404)".into(),
            }),
        ),
    ];
    for (status, body, want) in cases {
        assert_eq!(
            classify(status, &body),
            want,
            "{status} {}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn error_helpers() {
    let rejected = CallError::Permanent {
        code: 400,
        description: "Bad Request: wrong file identifier/HTTP URL specified".into(),
    };
    assert!(rejected.is_rejected_file_id());
    assert!(!rejected.is_retryable());
    assert!(
        !CallError::Permanent {
            code: 400,
            description: "Bad Request: chat not found".into()
        }
        .is_rejected_file_id()
    );
    assert!(
        CallError::Permanent {
            code: 400,
            description: "Bad Request: message is not modified".into()
        }
        .is_not_modified()
    );
    assert!(CallError::RetryAfter(3).is_retryable() && CallError::Transient("x".into()).is_retryable());
}

#[test]
fn sent_reads_message_ids_and_new_file_ids() {
    let call = ApiCall::SendMedia {
        method: crate::platforms::telegram::MediaMethod::Photo,
        chat_id: 1,
        media: MediaRef::Upload { media_id: "m".into() },
        caption: None,
        reply_markup: None,
    };
    let result = json!({"message_id": 9, "photo": [{"file_id": "small"}, {"file_id": "big"}]});
    assert_eq!(
        Sent::from_result(&call, result),
        Sent {
            message_ids: vec![9],
            file_ids: vec!["big".into()]
        }
    );
    let group = ApiCall::SendMediaGroup {
        chat_id: 1,
        items: vec![],
    };
    let result = json!([{"message_id": 1, "document": {"file_id": "d"}}, {"message_id": 2, "video": {"file_id": "v"}}]);
    assert_eq!(
        Sent::from_result(&group, result),
        Sent {
            message_ids: vec![1, 2],
            file_ids: vec!["d".into(), "v".into()]
        }
    );
    assert_eq!(
        Sent::from_result(
            &crate::platforms::telegram::render::answer_callback("c", None),
            json!(true)
        ),
        Sent::default()
    );
}

#[test]
fn debug_never_shows_a_token() {
    let api = BotApi::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
    let dbg = format!("{api:?}");
    assert!(dbg.contains("127.0.0.1:9") && !dbg.contains("bot"));
}
