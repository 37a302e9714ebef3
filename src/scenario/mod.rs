//! The scenario engine: GET INN format "1.0" scenario documents, compiled once and run by a pure
//! step function. No I/O, no clock, no randomness: the shell passes the time in, persists
//! [`DialogState`] as JSON, and carries out the returned [`Action`]s.
//!
//! # The language, as hookline runs it
//!
//! * **Steps** are an object keyed by id (document order is kept) or a list with `id`s. The
//!   dialog starts at `start_step`, else the first step in document order.
//! * **Step types**: `message` (default), `conditional_message` (first true `if` wins; an entry
//!   without `if` is the default), `action` (emits `action.emit` with templated `action.data`,
//!   shows its `message` if it has one, and moves to `next_step` at once — unless `auto_next` is
//!   set, then it waits `auto_next_delay` like any auto step).
//! * **Buttons** `[{text, value}]`; legacy `response.buttons` are used when `buttons` is absent
//!   (shown as well as expected, so such a step stays usable).
//! * **Moving on**: a step with `expected_input` validates the input by type, stores it in
//!   `variable`, and follows `next_step` (a string, or `{type: "conditional", conditions:
//!   [{if, then}], else}`; a list entry with `then`/`else` and no `if` is the default and wins
//!   over a top-level `else`). A conditional `next_step` that matches nothing shows the step again.
//!   A step without `expected_input` moves on with any input; with buttons, the press must be one
//!   of them (nothing is stored).
//! * **The end**: a step without `next_step` completes the dialog (`dialog.completed`) as soon as
//!   it is shown if it waits for nothing, else once its input is accepted. The next input after
//!   that restarts the dialog with the notice "Let's start again." and the start step.
//! * **Automatic transitions** (`auto_next`, `auto_next_delay` seconds, default 1.5) are
//!   returned as [`Action::ScheduleAuto`]; the engine never sleeps. A chain (auto hops and
//!   action steps entered without user input) stops after `Limits::max_auto_hops` (25) hops or
//!   before revisiting a step. User input cancels a pending chain; stale ticks are ignored.
//! * **Commands**: `/start [payload]` restarts (payload stored as `start_payload`) and shows the
//!   start step like any step; `/help`; `/reset` deletes the dialog. Other `/words` are text.
//! * **Templates**: `{{var}}` / `{{ var }}` with dotted paths in texts, captions, button labels
//!   and action data; `variables_mapping` gives display values; built-ins `user.first_name`,
//!   `user.last_name`, `user.username`, `chat.id`, `platform`. **An unknown variable renders as
//!   the empty string.** Collected data wins over a built-in of the same name.
//! * **Conditions**: see [`condition`] for the grammar. Quoted strings are literals; bare words
//!   are variables on either side of an operator.
//! * **Guard**: the same input at the same step within 2 s is dropped; more than 30 inputs a
//!   minute are refused. The memory lives in `DialogState.guard` (see [`Limits`]).
//! * A dialog whose step disappeared from a new scenario version restarts with a notice.

pub mod chat;
pub mod compile;
pub mod condition;
pub mod date;
pub mod document;
pub mod engine;
pub mod eval;
pub mod flow;
pub mod guard;
pub mod input;
pub mod limits;
pub mod model;
pub mod parse_step;
pub mod parts;
pub mod problem;
pub mod rules;
pub mod shape;
pub mod template;
pub mod texts;
pub mod types;
pub mod value;

#[cfg(test)]
mod tests;

pub use chat::run_chat;
pub use engine::step;
pub use guard::{Guard, Limits};
pub use model::Scenario;
pub use problem::{Problem, Severity, format_problems};
pub use types::{
    Action, Button, Context, DialogState, DialogStatus, Input, MediaInput, MediaItem, MediaKind, OutMessage, Outcome,
    OutcomeKind, PendingAuto, RejectReason, UserInfo,
};
