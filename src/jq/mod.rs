//! jq expressions (through jaq) for endpoints' filters and transforms, and whatever else lets
//! a user choose a shape.
//!
//! [`Program::compile`] checks an expression when it is saved: its size and nesting first
//! ([`scan`], before jaq's recursive parser sees it), then jaq's own parser and compiler, with
//! errors as 1-based line and column. A plain path (`.data.id // null`) is recognised then and
//! evaluated in process ([`fast`]); anything else runs in a [`Sandbox`]: a pool of child
//! processes (`hookline jq-sandbox`), because jaq cannot be interrupted, and a runaway
//! expression must cost one killed child, never a stuck or crashed server.
//!
//! This module uses nothing of hookline's but its own types: the sandbox's settings come in as
//! a [`SandboxConfig`].

pub mod child;
mod engine;
pub mod fast;
pub mod frame;
mod program;
pub mod sandbox;
pub mod scan;

pub use program::Program;
pub use sandbox::{Limits, RunError, Sandbox, SandboxConfig};

/// Why an expression was refused, at a 1-based line and column (in characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct CompileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl CompileError {
    /// The error at byte `offset` of `src` (clamped to its length and to a character boundary).
    pub fn at(src: &str, offset: usize, message: String) -> CompileError {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = src[line_start..offset].chars().count() + 1;
        CompileError { line, column, message }
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), with `…` where it was cut.
pub fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let src = "ab\nцd\nx";
        assert_eq!(CompileError::at(src, 0, String::new()).column, 1);
        let e = CompileError::at(src, 5, "m".into()); // the `d` after a two-byte letter
        assert_eq!((e.line, e.column), (2, 2));
        assert_eq!(e.to_string(), "line 2, column 2: m");
        let past = CompileError::at(src, 99, String::new());
        assert_eq!((past.line, past.column), (3, 2), "the end of the text");
        let inside = CompileError::at(src, 4, String::new());
        assert_eq!((inside.line, inside.column), (2, 1), "a byte inside a character");
    }

    #[test]
    fn clipping_keeps_characters_whole() {
        assert_eq!(clip("abc".into(), 3), "abc");
        assert_eq!(clip("ab\u{446}d".into(), 3), "ab…", "not inside the two-byte letter");
    }
}
