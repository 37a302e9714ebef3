//! A look at an expression's text before jaq's parser sees it. jaq's lexer and parser recurse
//! once per nesting level, so hostile nesting (`((((…` ten thousand deep) would overflow the
//! stack; this scan is a loop, and refuses such text first. It also refuses the builtins that
//! could read the server's environment or files, write to its logs, or stop the process.
//!
//! The scan knows just enough of jq's syntax to be exact about what it refuses: strings (with
//! `\(…)` interpolation, which nests), comments, field names (`.env` is a field, not `env`) and
//! object keys (`{input: 1}`).

use super::CompileError;

/// Longest expression accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024;
/// Deepest nesting of `(`, `[`, `{`, string interpolations and `if … end`.
pub const MAX_DEPTH: usize = 64;
/// Most binding and control keywords (`as`, `def`, `reduce`, `try`, …), each of which the
/// parser may enter recursively without a bracket.
pub const MAX_BINDERS: usize = 256;

/// Names refused anywhere they would call a builtin, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("env", "it would read the server's environment"),
    ("$ENV", "it would read the server's environment"),
    ("$__loc__", "it reveals the evaluator's source locations"),
    ("$__prog_args", "it is an interpreter internal"),
    ("input", "there is one input only, `.`"),
    ("inputs", "there is one input only, `.`"),
    ("input_filename", "there are no input files"),
    ("input_line_number", "there are no input files"),
    ("debug", "it would write to the server's log"),
    ("stderr", "it would write to the server's log"),
    ("halt", "it would stop the evaluator"),
    ("halt_error", "it would stop the evaluator"),
    ("import", "modules cannot be loaded"),
    ("include", "modules cannot be loaded"),
    ("modulemeta", "modules cannot be loaded"),
    ("get_search_list", "modules cannot be loaded"),
    ("localtime", "it depends on the server's time zone files"),
    ("strflocaltime", "it depends on the server's time zone files"),
];

const BINDERS: &[&str] = &["as", "def", "reduce", "foreach", "try", "label", "if"];

/// What encloses the scanner's position.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Paren,
    Bracket,
    Brace,
    /// `\(` inside a string: its `)` goes back into the string.
    Interpolation,
    If,
}

/// Refuse text that is too long, too deeply nested, or names a forbidden builtin.
pub fn check(src: &str) -> Result<(), CompileError> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(CompileError::at(
            src,
            0,
            format!("the expression is longer than {MAX_SOURCE_BYTES} bytes"),
        ));
    }
    Scanner {
        src,
        bytes: src.as_bytes(),
        at: 0,
        open: Vec::new(),
        binders: 0,
        prev: b' ',
    }
    .run()
}

struct Scanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    at: usize,
    open: Vec<Open>,
    binders: usize,
    /// The last significant byte of code before the current token.
    prev: u8,
}

impl Scanner<'_> {
    fn run(mut self) -> Result<(), CompileError> {
        while self.at < self.bytes.len() {
            let b = self.bytes[self.at];
            match b {
                b'#' => self.skip_comment(),
                b'"' => {
                    self.at += 1;
                    self.string()?;
                }
                b'(' => self.enter(Open::Paren, 1)?,
                b'[' => self.enter(Open::Bracket, 1)?,
                b'{' => self.enter(Open::Brace, 1)?,
                b')' | b']' | b'}' => self.close(b)?,
                b'$' | b'_' | b'a'..=b'z' | b'A'..=b'Z' => self.word()?,
                _ => self.at += 1,
            }
            if !b.is_ascii_whitespace() && b != b'#' {
                self.prev = b;
            }
        }
        Ok(())
    }

    fn err(&self, at: usize, message: impl Into<String>) -> CompileError {
        CompileError::at(self.src, at, message.into())
    }

    /// Enter `o`, which starts at the current position and is `len` bytes long.
    fn enter(&mut self, o: Open, len: usize) -> Result<(), CompileError> {
        if self.open.len() >= MAX_DEPTH {
            return Err(self.err(self.at, format!("nesting is deeper than {MAX_DEPTH} levels")));
        }
        self.open.push(o);
        self.at += len;
        Ok(())
    }

    /// A closing bracket. A mismatch is left for jaq's parser to report; an interpolation's
    /// `)` resumes the string it was in.
    fn close(&mut self, b: u8) -> Result<(), CompileError> {
        self.at += 1;
        match self.open.pop() {
            Some(Open::Interpolation) if b == b')' => self.string(),
            _ => Ok(()),
        }
    }

    fn skip_comment(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at] != b'\n' {
            self.at += 1;
        }
    }

    /// Inside a string, just after its opening quote or an interpolation's `)`: up to the
    /// closing quote, or into an interpolation.
    fn string(&mut self) -> Result<(), CompileError> {
        while self.at < self.bytes.len() {
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    self.prev = b'"';
                    return Ok(());
                }
                b'\\' if self.bytes.get(self.at + 1) == Some(&b'(') => {
                    self.prev = b'(';
                    return self.enter(Open::Interpolation, 2);
                }
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        Ok(()) // unterminated: jaq's lexer says so, with the position
    }

    fn word(&mut self) -> Result<(), CompileError> {
        let start = self.at;
        self.at += 1;
        while self.at < self.bytes.len()
            && (self.bytes[self.at].is_ascii_alphanumeric() || matches!(self.bytes[self.at], b'_' | b':'))
        {
            self.at += 1;
        }
        let src = self.src;
        let word = &src[start..self.at];
        // A field (`.env`) or format (`@sh`) has its `.` or `@` right before it; `. as` is not one.
        let field = start > 0 && matches!(self.bytes[start - 1], b'.' | b'@');
        if field || (!word.starts_with('$') && self.is_object_key()) {
            return Ok(()); // `.env`, `@sh`, `{input: …}`
        }
        if let Some((name, why)) = FORBIDDEN.iter().find(|(name, _)| *name == word) {
            return Err(self.err(start, format!("`{name}` is not available: {why}")));
        }
        self.keyword(word, start)
    }

    /// A word just after `{` or `,` directly inside an object is a key, not a call.
    fn is_object_key(&self) -> bool {
        self.open.last() == Some(&Open::Brace) && matches!(self.prev, b'{' | b',')
    }

    fn keyword(&mut self, word: &str, start: usize) -> Result<(), CompileError> {
        if BINDERS.contains(&word) {
            self.binders += 1;
            if self.binders > MAX_BINDERS {
                return Err(self.err(start, format!("more than {MAX_BINDERS} bindings and conditionals")));
            }
        }
        match word {
            "if" => {
                self.at = start;
                self.enter(Open::If, 2)?;
            }
            "end" if self.open.last() == Some(&Open::If) => {
                self.open.pop();
            }
            _ => {}
        }
        // The last byte of the word stands for it, so that `. as $x` after `as` is code.
        self.prev = b'w';
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(src: &str) -> String {
        check(src).expect_err(src).message
    }

    #[test]
    fn ordinary_expressions_pass() {
        for ok in [
            ".",
            ".data | {order: .id, env: .env, input: .input}",
            r#""\(.a) and \("(") \(.b | tostring)" | ascii_downcase"#,
            "if .a then .b elif .c then .d else null end",
            "# env in a comment\n.x",
            "reduce .[] as $x (0; . + $x)",
            "@base64 | ltrimstr(\"x\")",
            ".a.env | .[\"input\"]",
            "now | todate",
        ] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok).err());
        }
    }

    #[test]
    fn forbidden_builtins_are_refused_where_they_are_calls() {
        for (src, name) in [
            ("env", "env"),
            ("$ENV.HOME", "$ENV"),
            (".a | input", "input"),
            ("[inputs]", "inputs"),
            ("debug", "debug"),
            ("debug(\"x\")", "debug"),
            ("stderr", "stderr"),
            ("halt_error", "halt_error"),
            ("halt", "halt"),
            ("$__loc__", "$__loc__"),
            ("input_filename", "input_filename"),
            ("import \"a\" as a; .", "import"),
            ("include \"a\"; .", "include"),
            ("localtime", "localtime"),
            ("{a: env}", "env"),
            ("\"\\(env)\"", "env"),
        ] {
            let message = refused(src);
            assert!(message.contains(&format!("`{name}`")), "{src}: {message}");
        }
    }

    #[test]
    fn nesting_and_size_are_bounded_before_parsing() {
        let deep = format!("{}1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(refused(&deep).contains("nesting"));
        let fine = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(check(&fine).is_ok());
        let ifs = "if . then ".repeat(MAX_DEPTH + 1);
        assert!(refused(&ifs).contains("nesting"));
        let strings = "\"\\(".repeat(MAX_DEPTH + 1);
        assert!(refused(&strings).contains("nesting"));
        let binders = ". as $x | ".repeat(MAX_BINDERS + 1) + ".";
        assert!(refused(&binders).contains("bindings"));
        assert!(refused(&" ".repeat(MAX_SOURCE_BYTES + 1)).contains("longer"));
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let e = check(".a |\n  env").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
    }
}
