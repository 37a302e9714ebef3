//! Telegram, the first [`Platform`](crate::platforms::Platform): [`Telegram`] puts these pieces
//! together behind the seam.
//!
//! - [`update`]: a webhook body → [`ParsedUpdate`] (event type, chat, user, engine input); pure.
//! - [`render`]: an engine `OutMessage` → the [`ApiCall`]s that deliver it (keyboards, albums,
//!   captions, long-text splitting); pure and serializable, so calls can be queued durably.
//! - [`ratelimit`]: per-bot outbound pacing (30/s overall, ~1/s per private chat, 20/min per
//!   group); pure, the caller passes the clock.
//! - [`api`]: the Bot API client (sends, webhooks, files) whose errors are classified for retry
//!   and never contain the bot token.
//!
//! - [`send`](Telegram): one queued call sent, with media from the library and Telegram's
//!   recoverable refusals (a forgotten `file_id`, unparsable HTML, missing media) handled.
//!
//! The flow: handler → `parse_update` → `Inbound` → scenario engine → `render` → outbox →
//! `RatePlanner` → `BotApi::call`, retrying on `RetryAfter`/`Transient`, following `Migrated`.

pub mod api;
mod api_types;
pub mod degrade;
mod platform;
pub mod ratelimit;
pub mod render;
mod send;
pub mod update;
mod update_kinds;
mod update_media;

pub use api::{BotApi, BotUser, CallError, FileData, FileInfo, Refusals, Sent, Uploads, WebhookConfig, WebhookStatus};
#[cfg(test)]
pub(crate) use platform::offline;
pub use platform::{SECRET_HEADER, Telegram};
pub use ratelimit::{RateLimits, RatePlanner};
pub use render::{AlbumItem, ApiCall, MediaMethod, MediaRef, render};
pub use update::{ChatKind, IncomingMedia, ParsedUpdate, TelegramUser, UpdateError, parse_update};
pub use update_kinds::{DEFAULT_ALLOWED_UPDATES, EventType, KNOWN_KINDS};
