//! Fixed texts the engine sends. The correction texts are GET INN's own words, so existing users
//! and tests see the same words.

pub const HELP: &str = "Available commands:\n/start - Start or restart the conversation\n/help - Show this help message\n/reset - Reset the current conversation";
pub const RESET: &str = "Conversation has been reset. Send /start to begin a new conversation.";
pub const RATE_LIMITED: &str = "⚠️ You're sending messages too quickly. Please slow down.";
pub const CLICK_BUTTONS: &str = "Please click one of these buttons: ";
pub const CHOOSE_OPTION: &str = "Please choose one of these options: ";
pub const TEXT_INSTEAD: &str = "Please send a text message instead of clicking a button.";
/// Sent before the start step when input arrives after the dialog finished.
pub const START_AGAIN: &str = "Let's start again.";
/// Sent before the start step when the dialog's step vanished from a new scenario version.
pub const SCENARIO_UPDATED: &str = "The conversation was updated; let's start again.";
/// Text of a message that has buttons but nothing else to say (platforms refuse empty text).
pub const CHOOSE_PROMPT: &str = "Choose an option:";
