//! The platform's own event types: available to every account, documented with an example
//! payload (what `POST …/endpoints/{id}/test` sends). Extend this list when a flow publishes a
//! new type; names are stable API.

use serde_json::{Value, json};

pub struct PlatformType {
    pub name: &'static str,
    pub description: &'static str,
    pub example: fn() -> Value,
}

/// Operational types hookline publishes about the delivery system itself. Deliveries of these
/// never produce further `delivery.failed` events (that could loop).
pub const OPERATIONAL: &[&str] = &["endpoint.disabled", "delivery.failed", "endpoint.recovered"];

pub fn is_operational(name: &str) -> bool {
    OPERATIONAL.contains(&name)
}

pub const PLATFORM_TYPES: &[PlatformType] = &[
    PlatformType {
        name: "message.received",
        description: "A user sent the bot a message",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "message_id": 42, "text": "Hello", "from": {"id": 123456789, "username": "guest"}}),
    },
    PlatformType {
        name: "message.edited",
        description: "A user edited a message they had sent",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "message_id": 42, "text": "Hello again"}),
    },
    PlatformType {
        name: "callback.received",
        description: "A user pressed an inline button",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "callback_data": "menu:drinks"}),
    },
    PlatformType {
        name: "media.received",
        description: "A user sent a photo, document, voice or video",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "kind": "photo", "file_id": "AgACAgIAAxkBAAIB"}),
    },
    PlatformType {
        name: "command.received",
        description: "A user sent a bot command such as /start",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "command": "start", "args": ""}),
    },
    PlatformType {
        name: "bot.blocked",
        description: "A user blocked the bot",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789}),
    },
    PlatformType {
        name: "bot.unblocked",
        description: "A user unblocked the bot",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789}),
    },
    PlatformType {
        name: "update.ignored",
        description: "An update arrived that no scenario step handles",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "update_id": 1001, "reason": "unsupported update kind"}),
    },
    PlatformType {
        name: "dialog.started",
        description: "A conversation entered its first scenario step",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "scenario": "onboarding", "step": "greeting"}),
    },
    PlatformType {
        name: "dialog.step_changed",
        description: "A conversation moved to another step",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "from_step": "greeting", "to_step": "ask_name"}),
    },
    PlatformType {
        name: "dialog.completed",
        description: "A conversation reached a final step; carries the collected answers",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "scenario": "onboarding", "answers": {"name": "Anna", "phone": "+79990000000"}}),
    },
    PlatformType {
        name: "order.created",
        description: "A scenario produced an order",
        example: || json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "chat_id": 123456789, "order": {"items": [{"sku": "ramen", "qty": 2}], "total": 980, "currency": "RUB"}}),
    },
    PlatformType {
        name: "media.missing",
        description: "A scenario's media was neither in the bot's library nor known to the platform; the message went without it",
        example: || {
            json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "platform": "telegram", "chat_id": "123456789", "media": ["menu_jpg"],
            "message": "the scenario's media is not in the bot's library and the platform refused it; the text and buttons were sent without it"})
        },
    },
    PlatformType {
        name: "message.delivered",
        description: "The platform delivered one of the bot's messages to the user's device (WhatsApp receipts)",
        example: || {
            json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "platform": "whatsapp", "chat_id": "15551234567",
            "message_id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI", "outbox_id": "0190c6c4-0000-7000-8000-0000000000b1", "status": "delivered",
            "at": "2026-12-07T10:00:00.000Z", "error": null})
        },
    },
    PlatformType {
        name: "message.read",
        description: "The user read one of the bot's messages (WhatsApp receipts)",
        example: || {
            json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "platform": "whatsapp", "chat_id": "15551234567",
            "message_id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI", "outbox_id": "0190c6c4-0000-7000-8000-0000000000b1", "status": "read",
            "at": "2026-12-07T10:00:05.000Z", "error": null})
        },
    },
    PlatformType {
        name: "message.failed",
        description: "One of the bot's messages was not delivered: refused by the platform, outside WhatsApp's 24-hour window, or failed after it was accepted",
        example: || {
            json!({"bot_id": "0190c6c4-0000-7000-8000-000000000001", "platform": "whatsapp", "chat_id": "15551234567",
            "outbox_id": "0190c6c4-0000-7000-8000-0000000000b1", "status": "failed", "reason": "outside_window",
            "error": "outside the customer-service window: the user last wrote more than 24 hours ago and the bot has no template"})
        },
    },
    PlatformType {
        name: "endpoint.disabled",
        description: "hookline disabled one of your endpoints (410 Gone, or failing for too long)",
        example: || json!({"endpoint_id": "0190c6c4-0000-7000-8000-0000000000e1", "url": "https://example.com/hooks", "reason": "receiver answered 410 Gone"}),
    },
    PlatformType {
        name: "delivery.failed",
        description: "A delivery used its last retry and is now a failed delivery you can replay",
        example: || json!({"endpoint_id": "0190c6c4-0000-7000-8000-0000000000e1", "event_id": "0190c6c4-0000-7000-8000-0000000000a1", "event_type": "order.created", "attempts": 8, "last_status": 500, "last_error": "status"}),
    },
    PlatformType {
        name: "endpoint.recovered",
        description: "An endpoint whose circuit breaker had opened answered successfully again",
        example: || json!({"endpoint_id": "0190c6c4-0000-7000-8000-0000000000e1", "url": "https://example.com/hooks"}),
    },
];

pub fn platform_type(name: &str) -> Option<&'static PlatformType> {
    PLATFORM_TYPES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_valid_unique_and_cover_operational_types() {
        let mut names: Vec<_> = PLATFORM_TYPES.iter().map(|t| t.name).collect();
        assert!(names.iter().all(|n| crate::delivery::filter::valid_type_name(n)));
        for op in OPERATIONAL {
            assert!(names.contains(op), "{op}");
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PLATFORM_TYPES.len());
        assert!(PLATFORM_TYPES.iter().all(|t| (t.example)().is_object()));
    }
}
