//! Platforms that take free-form replies only within a window after the user's last message
//! (WhatsApp's 24 hours): before a reply leaves, the chat's window is checked, and outside it
//! the adapter says what goes instead (the bot's template, once) or the reply fails with a
//! `message.failed` event. Replies to a message the user just sent skip the check.

use uuid::Uuid;

use super::Runtime;
use super::sender::Chat;
use crate::platforms::{CallError, ClosedWindow, OutsideWindow, PlatformCall};
use crate::scenario::{Context, DialogState};
use crate::store::now_ms;

impl Runtime {
    /// `call` as it may go: unchanged while the chat's reply window is open (or the platform
    /// has none), else what the adapter sends instead (a template); `None` when it cannot go,
    /// then it is failed with a `message.failed` event.
    pub(super) async fn window_checked(&self, chat: &Chat<'_>, id: Uuid, call: PlatformCall) -> Option<PlatformCall> {
        let Some(window) = chat.adapter.reply_window().filter(|_| !chat.window_open) else {
            return Some(call);
        };
        let found = match self.store.chat_window(chat.bot_id, chat.platform, chat.chat_id).await {
            Ok(found) => found,
            Err(e) => {
                // The platform refuses a closed window's message itself; the refusal fails it then.
                tracing::warn!(bot_id = %chat.bot_id, error = %e, "cannot read the chat's reply window; sending");
                return Some(call);
            }
        };
        if found
            .as_ref()
            .is_some_and(|f| now_ms() - f.0 < window.as_millis() as i64)
        {
            return Some(call);
        }
        match self.outside(chat, &call, found) {
            OutsideWindow::Keep => Some(call),
            OutsideWindow::Replace(instead) => Some(instead),
            OutsideWindow::Refuse(why) => {
                let error = CallError::OutsideWindow(why);
                tracing::info!(outbox_id = %id, error = %error, "reply not sent");
                if let Err(e) = self
                    .store
                    .outbox_failed_with_event(id, error.label(), &error.to_string())
                    .await
                {
                    tracing::warn!(outbox_id = %id, error = %e, "cannot record a reply outside the window");
                }
                None
            }
        }
    }

    /// What to send instead of `call` now that the platform said the chat's window is closed;
    /// `None` when nothing may (the platform's refusal then fails the reply).
    pub(super) async fn instead_of_closed(&self, chat: &Chat<'_>, call: &PlatformCall) -> Option<PlatformCall> {
        let found = self
            .store
            .chat_window(chat.bot_id, chat.platform, chat.chat_id)
            .await
            .ok()
            .flatten();
        match self.outside(chat, call, found) {
            OutsideWindow::Replace(instead) => Some(instead),
            OutsideWindow::Keep | OutsideWindow::Refuse(_) => None,
        }
    }

    /// The adapter's answer for `call` in a closed window, given the chat's dialog (when the
    /// user last wrote, its state and context, as stored).
    fn outside(&self, chat: &Chat<'_>, call: &PlatformCall, found: Option<(i64, String, String)>) -> OutsideWindow {
        let last = found.as_ref().map(|f| f.0);
        let state: Option<DialogState> = found.as_ref().and_then(|f| serde_json::from_str(&f.1).ok());
        let context = found
            .as_ref()
            .and_then(|f| serde_json::from_str(&f.2).ok())
            .unwrap_or_else(|| Context {
                platform: chat.platform.to_string(),
                chat_id: chat.chat_id.to_string(),
                user: Default::default(),
            });
        let data = state.map(|s| s.data).unwrap_or_default();
        let closed = ClosedWindow {
            chat_id: chat.chat_id,
            last_user_message_ms: last,
            data: &data,
            context: &context,
        };
        chat.adapter.outside_window(chat.bot_id, chat.access, call, &closed)
    }
}
