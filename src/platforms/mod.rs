//! Messaging platforms: what a platform is to hookline, in one place ([`Platform`]), and the
//! adapters that implement it. Dialogs and the store speak only the neutral types of
//! [`inbound`] and [`outbound`]; an adapter turns them into its platform's requests and back.
//!
//! Adding a platform is one folder here (parsing, rendering, its API client) and one line in
//! [`Platforms::new`]'s caller.

pub mod inbound;
pub mod outbound;
pub mod registration;
pub mod telegram;
pub mod whatsapp;

use crate::model::ids::BotId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::media::MediaLibrary;
use crate::scenario::OutMessage;
use crate::secrets::Secret;
pub use inbound::{Choice, EventType, ExternalId, Inbound, InboundFile, InboundUser};
pub use outbound::{
    Access, CallError, ClosedWindow, OutsideWindow, PlatformCall, SendReport, WebhookSetup, WebhookStatus,
};

/// Why a webhook body is not one of the platform's: the message names the field and is safe to
/// return to the sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// A messaging platform. Pure parts (verify, parse, render) do no I/O; the rest talks to the
/// platform's API. Calls are the adapter's own: only the adapter that rendered a call sends it.
pub trait Platform: std::fmt::Debug + Send + Sync + 'static {
    /// The name in URLs, stored rows and events (`telegram`).
    fn name(&self) -> &'static str;

    /// Whether an inbound request comes from the platform: `secret` is what hookline registered
    /// (a secret token, an app secret), checked in constant time.
    fn verify(&self, headers: &http::HeaderMap, body: &[u8], secret: &Secret<String>) -> bool;

    /// A webhook body's items, in order. An item of a kind hookline does not act on is kept as
    /// `update.ignored`; only a body that is not the platform's at all is an error.
    fn parse(&self, body: &[u8]) -> Result<Vec<Inbound>, BodyError>;

    /// How values interpolated into scenario texts are escaped for the platform's markup.
    fn text_escape(&self) -> fn(&str) -> String;

    /// The calls that deliver an engine message to `chat_id`, degraded to the platform's limits.
    fn render(&self, chat_id: &str, message: &OutMessage) -> Vec<PlatformCall>;

    /// Acknowledge a button choice (stop the client's spinner; `text` shows as a notice), if the
    /// platform has such a call.
    fn acknowledge(&self, choice: &Choice, text: Option<String>) -> Option<PlatformCall>;

    /// Retire the keyboard of the message whose button was chosen, if the platform can.
    fn retire_keyboard(&self, chat_id: &str, choice: &Choice) -> Option<PlatformCall>;

    /// Book a slot under the platform's outbound limits for the bot: Ok(time) = send then;
    /// Err(time) = more than `max_wait_ms` off, nothing booked, ask again then.
    fn reserve(&self, bot_id: BotId, call: &PlatformCall, now_ms: i64, max_wait_ms: i64) -> Result<i64, i64>;

    /// How long one call may take; a reply's lease outlasts it.
    fn request_timeout(&self) -> Duration;

    /// Send one call with the bot's access; scenario media named by alias is taken from `media`.
    fn send<'a>(
        &'a self,
        access: &'a Access,
        bot_id: BotId,
        call: PlatformCall,
        media: &'a MediaLibrary,
    ) -> BoxFuture<'a, SendReport>;

    /// Fetch a file a user sent, at most `limit` bytes.
    fn fetch_file<'a>(
        &'a self,
        access: &'a Access,
        file_id: &'a str,
        limit: u64,
    ) -> BoxFuture<'a, Result<Bytes, FetchError>>;

    /// Point the platform's webhook for the bot at hookline.
    fn register_webhook<'a>(
        &'a self,
        access: &'a Access,
        setup: &'a WebhookSetup,
    ) -> BoxFuture<'a, Result<(), CallError>>;

    /// The platform's view of the bot's webhook.
    fn webhook_status<'a>(&'a self, access: &'a Access) -> BoxFuture<'a, Result<WebhookStatus, CallError>>;

    /// Whether the webhook secret is made once with the credential and kept across
    /// registrations (WhatsApp's verify token, which a user may paste into Meta's dashboard),
    /// rather than made fresh by every registration (Telegram's secret token).
    fn keeps_webhook_secret(&self) -> bool {
        false
    }

    /// Whether a step's buttons may also be chosen by typing their number or label (platforms
    /// that show long choices as a numbered list).
    fn typed_choices(&self) -> bool {
        false
    }

    /// A call acknowledging that the user's message was seen (WhatsApp's read receipt), sent
    /// before the replies.
    fn mark_seen(&self, _item: &Inbound) -> Option<PlatformCall> {
        None
    }

    /// How long after the user's last message the platform takes free-form replies; `None`
    /// when it always does.
    fn reply_window(&self) -> Option<Duration> {
        None
    }

    /// What to do with `call` when the chat's reply window is closed.
    fn outside_window(
        &self,
        _bot_id: BotId,
        _access: &Access,
        _call: &PlatformCall,
        _closed: &ClosedWindow<'_>,
    ) -> OutsideWindow {
        OutsideWindow::Keep
    }

    /// Remove the bot's webhook at the platform.
    fn remove_webhook<'a>(&'a self, access: &'a Access) -> BoxFuture<'a, Result<(), CallError>>;
}

/// Why a user's file could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The platform says the file is larger than the limit (its size when known).
    #[error("over the {limit}-byte download limit")]
    TooLarge { limit: u64, size: Option<u64> },
    /// The platform gave no way to fetch the bytes.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Call(#[from] CallError),
}

/// The platforms this process serves, by name.
#[derive(Clone)]
pub struct Platforms {
    by_name: Arc<HashMap<&'static str, Arc<dyn Platform>>>,
    /// The longest any platform's call may take (fixed once the adapters are built).
    longest_request_timeout: Duration,
}

impl Platforms {
    pub fn new(platforms: Vec<Arc<dyn Platform>>) -> Platforms {
        let longest_request_timeout = platforms.iter().map(|p| p.request_timeout()).max().unwrap_or_default();
        let by_name = platforms.into_iter().map(|p| (p.name(), p)).collect();
        Platforms {
            by_name: Arc::new(by_name),
            longest_request_timeout,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Platform>> {
        self.by_name.get(name)
    }

    /// The names of the platforms served, in a stable order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.by_name.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// The longest any platform's call may take.
    pub fn longest_request_timeout(&self) -> Duration {
        self.longest_request_timeout
    }
}

impl std::fmt::Debug for Platforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.values()).finish()
    }
}

/// The purpose string sealing a platform's second secret (WhatsApp's app secret).
pub fn app_secret_purpose(platform: &str) -> &'static str {
    match platform {
        "whatsapp" => "whatsapp_app_secret",
        _ => "platform_app_secret",
    }
}

/// The purpose string sealing a platform token (binds the ciphertext to its use).
pub fn token_purpose(platform: &str) -> &'static str {
    match platform {
        "telegram" => "telegram_token",
        "whatsapp" => "whatsapp_access_token",
        _ => "platform_token",
    }
}
