//! Panic isolation around the pure planning of one chat's input.
//!
//! The engine and planner are pure and bounded, but a bug in them must cost one update of one
//! chat, not the process: the update is then recorded as skipped (so a platform's redelivery is a
//! duplicate, not a crash loop), other chats go on, and the panic is logged and counted.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::plan::{self, BotCtx, ChatWrite, DialogSnapshot, Item};
use crate::store::new_id;
use serde_json::{Value, json};

/// What the update's recorded result says when its planning panicked.
pub const SKIPPED_NOTE: &str = "the scenario failed on this input; it was recorded and skipped";

/// Runs `f`, turning a panic into `Err` with the panic's message.
///
/// `AssertUnwindSafe` is sound here: the closure only reads its inputs and builds a new value, so
/// a panic halfway leaves nothing shared half-changed.
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| message(payload.as_ref()))
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Plans `item` for the chat; if the planner panics, plans it again without the scenario, so the
/// input is recorded (and deduplicated) with [`SKIPPED_NOTE`] and the dialog is left as it was.
pub fn plan_or_skip(
    ctx: &BotCtx,
    chat_id: &str,
    snapshot: Option<DialogSnapshot>,
    item: Item,
    now_ms: i64,
) -> ChatWrite {
    plan_or_skip_with(plan::plan, ctx, chat_id, snapshot, item, now_ms)
}

/// The planner's signature, so that a test can put a failing one in its place.
type Planner = fn(&BotCtx, &str, Option<DialogSnapshot>, Vec<Item>, i64, &mut IdFn) -> ChatWrite;
type IdFn = fn() -> uuid::Uuid;

fn plan_or_skip_with(
    planner: Planner,
    ctx: &BotCtx,
    chat_id: &str,
    snapshot: Option<DialogSnapshot>,
    item: Item,
    now_ms: i64,
) -> ChatWrite {
    let first = run(|| {
        planner(
            ctx,
            chat_id,
            snapshot.clone(),
            vec![item.clone()],
            now_ms,
            &mut (new_id as IdFn),
        )
    });
    match first {
        Ok(write) => write,
        Err(reason) => {
            let kind = match item {
                Item::Update { .. } => "update",
                Item::Tick { .. } => "tick",
            };
            tracing::error!(bot_id = %ctx.bot_id, chat_id, kind, reason, "planning a chat's input panicked; the input is skipped");
            metrics::counter!("dialog_step_panics_total", "kind" => kind).increment(1);
            skipped(planner, ctx, chat_id, snapshot, item, now_ms)
        }
    }
}

fn skipped(
    planner: Planner,
    ctx: &BotCtx,
    chat_id: &str,
    snapshot: Option<DialogSnapshot>,
    item: Item,
    now_ms: i64,
) -> ChatWrite {
    let without = BotCtx {
        scenario: None,
        ..ctx.clone()
    };
    let mut write = planner(&without, chat_id, snapshot, vec![item], now_ms, &mut (new_id as IdFn));
    for row in &mut write.inbox {
        if let Value::Object(result) = &mut row.result {
            result.insert("note".into(), json!(SKIPPED_NOTE));
        }
    }
    write
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::dialogs::plan::DialogChange;

    fn echo_ctx() -> BotCtx {
        let doc = json!({"start_step": "echo", "steps": {"echo": {"message": {"text": "got {{last}}"},
            "expected_input": {"type": "text", "variable": "last"}, "next_step": "echo"}}});
        BotCtx {
            bot_id: crate::model::ids::BotId::new(),
            account_id: crate::model::ids::AccountId::new(),
            platform: crate::platforms::telegram::offline(),
            scenario: Some(Arc::new(crate::scenario::Scenario::compile(&doc).unwrap().0)),
        }
    }

    fn text_item(text: &str) -> Item {
        let body = json!({"update_id": 1, "message": {"message_id": 5, "date": 1,
            "chat": {"id": 7, "type": "private"}, "from": {"id": 7, "is_bot": false, "first_name": "Ann"}, "text": text}});
        let body = serde_json::to_vec(&body).unwrap();
        let parsed = crate::platforms::telegram::update::parse_update(&body).unwrap();
        Item::Update {
            inbox_id: new_id(),
            body,
            parsed: Box::new(parsed.into()),
            media: None,
        }
    }

    /// The planner, except that it panics whenever the bot has a scenario to run.
    fn panicking(
        ctx: &BotCtx,
        chat_id: &str,
        snapshot: Option<DialogSnapshot>,
        items: Vec<Item>,
        now_ms: i64,
        ids: &mut IdFn,
    ) -> ChatWrite {
        assert!(ctx.scenario.is_none(), "a bug in the scenario engine");
        plan::plan(ctx, chat_id, snapshot, items, now_ms, ids)
    }

    #[test]
    fn a_planner_panic_records_the_update_as_skipped_and_leaves_the_dialog_alone() {
        let ctx = echo_ctx();
        // The real planner answers the text and starts a dialog…
        let normal = plan_or_skip(&ctx, "7", None, text_item("hi"), 1_000);
        assert!(!normal.outbox.is_empty());
        assert!(!matches!(normal.dialog, DialogChange::Unchanged));
        // …one that panics costs that update only: it is recorded (so a redelivery is a
        // duplicate, not a crash loop) with the note, nothing is sent, the dialog is untouched.
        let write = plan_or_skip_with(panicking, &ctx, "7", None, text_item("hi"), 1_000);
        assert_eq!(write.inbox.len(), 1);
        assert_eq!(write.inbox[0].result["note"], SKIPPED_NOTE);
        assert!(write.outbox.is_empty());
        assert!(matches!(write.dialog, DialogChange::Unchanged));
    }

    #[test]
    fn a_panic_becomes_an_error_with_its_message_and_the_thread_goes_on() {
        assert_eq!(run(|| 7), Ok(7));
        assert_eq!(run(|| -> u8 { panic!("boom") }), Err("boom".to_string()));
        let chat = 42;
        assert_eq!(
            run(|| -> u8 { panic!("chat {chat} broke") }),
            Err("chat 42 broke".to_string())
        );
        // An overflow or out-of-range index in the planner is a panic like any other.
        let empty: Vec<u8> = Vec::new();
        let index = empty.len() + 3;
        assert!(run(|| empty[index]).unwrap_err().contains("index out of bounds"));
        assert_eq!(run(|| 1 + 1), Ok(2), "the thread is still usable");
    }
}
