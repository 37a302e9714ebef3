//! Messaging platforms: how hookline reads their webhooks and talks to their APIs.
//! Each platform is pure parsing and rendering plus a thin HTTP client.

pub mod telegram;
