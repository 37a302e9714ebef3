//! Every size, count and depth a scenario document may choose, in one place.
//!
//! A scenario is written by a tenant and run for every update its bot receives, so nothing in it
//! may make the server do unbounded work or recurse as deep as the document likes. Each limit is
//! checked when the document is uploaded (a 4xx naming the field), never while a chat runs.
//! The values are generous: the largest real scenarios known (about 40 steps, 41 KB) use a small
//! fraction of each.

/// Largest scenario document, in bytes of JSON or YAML text (or, for a document already parsed,
/// of its strings and keys). 25× the largest real scenario; compiling this much takes milliseconds.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Deepest nesting of arrays and objects anywhere in a document. A scenario needs about 6 levels
/// (steps → step → next_step → conditions → entry); action data gets the rest. Everything that
/// later walks the document (templating action data, cloning, dropping, serialising) recurses at
/// most this deep.
pub const MAX_DOCUMENT_DEPTH: usize = 32;

/// Most values (scalars, arrays, objects) in one document: bounds compile time and memory
/// independently of how compactly they are written.
pub const MAX_DOCUMENT_NODES: usize = 200_000;

/// Most steps in one scenario: far beyond any dialog a person walks through.
pub const MAX_STEPS: usize = 1_000;

/// Longest step id, in characters; ids are stored in every dialog state and event.
pub const MAX_STEP_ID_CHARS: usize = 200;

/// Longest text of a message, caption or button label, in characters. Telegram caps a message at
/// 4096 characters after templating; the margin leaves room for markup and placeholders.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Most `{{` openings in one text: a real message names a handful of variables.
pub const MAX_TEMPLATES_PER_TEXT: usize = 100;

/// Most `{{` openings in the whole document, texts and action data together.
pub const MAX_TEMPLATES_TOTAL: usize = 10_000;

/// Longest condition, in characters.
pub const MAX_CONDITION_CHARS: usize = 2_000;

/// Most tests (`a == 'b'`, `exists x`, …) in one condition; conditions are evaluated on every
/// input, and a real one combines a few.
pub const MAX_CONDITION_TERMS: usize = 100;

/// Deepest nesting of `(` and `not` in a condition; the parser and evaluator recurse only this deep.
pub const MAX_CONDITION_DEPTH: u32 = 32;

/// Most branches of one conditional (`conditions` of a step or of its `next_step`).
pub const MAX_BRANCHES: usize = 100;

/// Most buttons on one step. Telegram allows at most 100 inline buttons on a message.
pub const MAX_BUTTONS: usize = 100;

/// Most media items in one message. Telegram groups at most 10; the margin allows a few groups.
pub const MAX_MEDIA_PER_MESSAGE: usize = 50;

/// Longest `expected_input.pattern`, in characters; a regular expression compiles in time and
/// memory that grow with its length.
pub const MAX_PATTERN_CHARS: usize = 1_000;
