//! Telegram: the pieces the webhook handler and the outbox put together.
//!
//! - [`update`]: a webhook body → [`ParsedUpdate`] (event type, chat, user, engine input); pure.
//! - [`render`]: an engine `OutMessage` → the [`ApiCall`]s that deliver it (keyboards, albums,
//!   captions, long-text splitting); pure and serializable, so calls can be queued durably.
//! - [`ratelimit`]: per-bot outbound pacing (30/s overall, ~1/s per private chat, 20/min per
//!   group); pure, the caller passes the clock.
//! - [`api`]: the Bot API client (sends, webhooks, files) whose errors are classified for retry
//!   and never contain the bot token.
//!
//! The flow: handler → `parse_update` → scenario engine → `render` → outbox → `RatePlanner` →
//! `BotApi::call`, retrying on `RetryAfter`/`Transient`, following `Migrated`.

pub mod api;
mod api_types;
pub mod degrade;
pub mod ratelimit;
pub mod render;
pub mod update;
mod update_kinds;
mod update_media;
pub mod webhook;

pub use api::{BotApi, BotUser, CallError, FileData, FileInfo, Sent, Uploads, WebhookConfig, WebhookStatus};
pub use ratelimit::{RateLimits, RatePlanner};
pub use render::{AlbumItem, ApiCall, MediaMethod, MediaRef, render};
pub use update::{ChatKind, IncomingMedia, ParsedUpdate, TelegramUser, UpdateError, parse_update};
pub use update_kinds::{DEFAULT_ALLOWED_UPDATES, EventType, KNOWN_KINDS};
