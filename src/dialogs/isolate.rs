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
    let first = run(|| plan::plan(ctx, chat_id, snapshot.clone(), vec![item.clone()], now_ms, &mut new_id));
    match first {
        Ok(write) => write,
        Err(reason) => {
            let kind = match item {
                Item::Update { .. } => "update",
                Item::Tick { .. } => "tick",
            };
            tracing::error!(bot_id = %ctx.bot_id, chat_id, kind, reason, "planning a chat's input panicked; the input is skipped");
            metrics::counter!("dialog_step_panics_total", "kind" => kind).increment(1);
            skipped(ctx, chat_id, snapshot, item, now_ms)
        }
    }
}

fn skipped(ctx: &BotCtx, chat_id: &str, snapshot: Option<DialogSnapshot>, item: Item, now_ms: i64) -> ChatWrite {
    let without = BotCtx {
        scenario: None,
        ..ctx.clone()
    };
    let mut write = plan::plan(&without, chat_id, snapshot, vec![item], now_ms, &mut new_id);
    for row in &mut write.inbox {
        if let Value::Object(result) = &mut row.result {
            result.insert("note".into(), json!(SKIPPED_NOTE));
        }
    }
    write
}

#[cfg(test)]
mod tests {
    use super::run;

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
