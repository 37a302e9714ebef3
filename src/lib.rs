//! hookline: a webhook platform in one binary.
//!
//! Two flows share one store (see `docs/architecture.md`):
//! - **inbound**: platform webhooks (Telegram, WhatsApp) → durable inbox → per-chat runner →
//!   the pure scenario engine → replies through a durable outbox;
//! - **outbound**: events (from the bots or published through the API) → deliveries committed in
//!   the same transaction → leased delivery workers → customers' endpoints, signed.
//!
//! Modules, outermost first: [`cli`] and [`app`] start things; [`http`] is the REST shell;
//! [`store`] is everything durable; [`dialogs`] runs the inbound flow; [`platforms`] parses and
//! talks to Telegram; [`scenario`] is the pure conversation engine; [`media`] keeps bots' files
//! in an object store; [`jq`] checks and runs users' jq filters and transforms (in a sandbox
//! process); [`config`], [`secrets`] and [`telemetry`] are shared.

/// Every binary that links hookline (the server, its tests and benchmarks) allocates through
/// mimalloc: see the note in `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dialogs;
pub mod http;
pub mod jq;
pub mod media;
pub mod model;
pub mod platforms;
pub mod scenario;
pub mod secrets;
pub mod sources;
pub mod ssrf;
pub mod store;
pub mod telemetry;
