//! Messaging platforms: how hookline reads their webhooks and talks to their APIs.
//! Each platform is pure parsing and rendering plus a thin HTTP client.

pub mod telegram;

/// The purpose string sealing a platform token (binds the ciphertext to its use).
pub fn token_purpose(platform: &str) -> &'static str {
    match platform {
        "telegram" => "telegram_token",
        _ => "platform_token",
    }
}
