//! jaq itself: compiling an expression against hookline's set of builtins, and running it with
//! bounds on what it yields. Running happens only in the sandbox process (see [`super::child`])
//! and in tests; the server compiles, to check an expression and find its errors' positions.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;

use super::CompileError;

/// A compiled jaq filter, ready to run.
pub type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// Builtins left out of jaq's standard set: reading the environment or local time zone,
/// writing to the log, stopping the process (the scan refuses their names first; leaving them
/// out makes sure no definition reaches them either).
const LEFT_OUT: &[&str] = &[
    "env",
    "input",
    "inputs",
    "debug",
    "debug_empty",
    "stderr",
    "stderr_empty",
    "halt",
    "halt_error",
    "localtime",
    "strflocaltime",
    "input_filename",
];

fn kept(name: &str) -> bool {
    !LEFT_OUT.contains(&name)
}

/// Compile `src` (already through [`super::scan::check`]). jaq's parser and compiler recurse
/// over the expression, so callers run this on a thread with a large stack.
pub fn compile(src: &str) -> Result<Filter, CompileError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|d| kept(d.name));
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|f| kept(f.0));
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code: src, path: () })
        .map_err(|errs| load_error(src, errs))?;
    Compiler::default().with_funs(funs).compile(modules).map_err(|errs| {
        let first = errs.into_iter().flat_map(|(_, e)| e).next();
        match first {
            Some((name, undefined)) => CompileError::at(
                src,
                offset_in(src, name),
                format!("undefined {} `{name}`", undefined.as_str()),
            ),
            None => CompileError::at(src, 0, "the expression does not compile".into()),
        }
    })
}

/// Where `part` (a slice of `src`, as jaq's errors give them) starts in `src`.
fn offset_in(src: &str, part: &str) -> usize {
    let (base, at) = (src.as_ptr() as usize, part.as_ptr() as usize);
    if at >= base && at <= base + src.len() {
        at - base
    } else {
        0
    }
}

fn load_error(src: &str, errs: jaq_core::load::Errors<&str, ()>) -> CompileError {
    use jaq_core::load::Error;
    let first = errs.into_iter().next().map(|(_, e)| e);
    let (at, message) = match first {
        Some(Error::Lex(errs)) => match errs.into_iter().next() {
            Some((expect, found)) => (offset_in(src, found), format!("expected {}", lex_expected(&expect))),
            None => (0, "cannot read the expression".into()),
        },
        Some(Error::Parse(errs)) => match errs.into_iter().next() {
            // What was found is a slice of the source; an empty one is its end.
            Some((expect, "")) => (src.len(), format!("expected {}, found the end", expect.as_str())),
            Some((expect, found)) => (
                offset_in(src, found),
                format!("expected {}, found `{}`", expect.as_str(), first_token(found)),
            ),
            None => (0, "cannot parse the expression".into()),
        },
        Some(Error::Io(errs)) => (
            errs.first().map_or(0, |(path, _)| offset_in(src, path)),
            "modules cannot be loaded".into(),
        ),
        None => (0, "cannot load the expression".into()),
    };
    CompileError::at(src, at, message)
}

/// jaq reports what it found as the rest of the text (or a whole bracketed group); its first
/// token, at most 40 characters of it, reads better.
fn first_token(rest: &str) -> &str {
    let end = rest
        .char_indices()
        .skip(1)
        .take(40)
        .find(|(_, c)| c.is_whitespace() || "()[]{}|,;:".contains(*c))
        .map(|(i, _)| i)
        .unwrap_or_else(|| rest.char_indices().nth(40).map_or(rest.len(), |(i, _)| i));
    &rest[..end]
}

/// What the lexer expected (jaq's own description panics on a delimiter it does not know).
fn lex_expected(e: &jaq_core::load::lex::Expect<&str>) -> &'static str {
    use jaq_core::load::lex::Expect;
    match e {
        Expect::Delim("(") => "a closing parenthesis",
        Expect::Delim("[") => "a closing bracket",
        Expect::Delim("{") => "a closing brace",
        Expect::Delim(_) => "a closing quote",
        Expect::Digit => "a digit",
        Expect::Ident => "an identifier",
        Expect::Escape => "a string escape sequence",
        Expect::Unicode => "a 4-digit hexadecimal code point",
        _ => "a token",
    }
}

/// How running ended when it did not yield its outputs.
#[derive(Debug, PartialEq, Eq)]
pub enum EvalError {
    /// The expression raised an error (jq's `error`, a type error, …).
    Failed(String),
    /// Its outputs passed the byte or count bound.
    TooLarge(String),
}

/// Run `filter` on `input`; the outputs as JSON texts (each checked to be JSON, at most 128
/// levels deep), stopping at `max_outputs` of them and failing once their total length passes
/// `max_bytes`.
pub fn run(filter: &Filter, input: Val, max_outputs: usize, max_bytes: usize) -> Result<Vec<String>, EvalError> {
    if max_outputs == 0 {
        return Ok(Vec::new());
    }
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut outputs = Vec::new();
    let mut total = 0usize;
    for out in filter.id.run((ctx, input)).map(unwrap_valr) {
        let value = out.map_err(|e| EvalError::Failed(super::clip(message(e), MAX_MESSAGE)))?;
        let text = value.to_string();
        total += text.len() + 1;
        if total > max_bytes {
            return Err(EvalError::TooLarge(format!("output exceeds {max_bytes} bytes")));
        }
        // jaq writes byte strings and nesting JSON cannot hold; the parent reads JSON only.
        if depth(&text) > MAX_OUTPUT_DEPTH {
            return Err(EvalError::Failed(format!(
                "an output is nested deeper than {MAX_OUTPUT_DEPTH} levels"
            )));
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_err() {
            return Err(EvalError::Failed(
                "an output has no JSON form (NaN, an infinite number or a byte string)".into(),
            ));
        }
        outputs.push(text);
        if outputs.len() >= max_outputs {
            break;
        }
    }
    Ok(outputs)
}

/// Longest error message reported: an error's value may be any size, the report is not.
const MAX_MESSAGE: usize = 1_000;

/// Deepest nesting of an output, below the parent's JSON reader's limit (128).
const MAX_OUTPUT_DEPTH: usize = 100;

/// How deeply `json` nests arrays and objects (a loop over its bytes, strings skipped).
fn depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// An error as a message: a string as it is (`error("no")` says `no`), anything else as JSON.
fn message(e: jaq_core::Error<Val>) -> String {
    use jaq_std::ValT as _;
    let v = e.into_val();
    match v.as_utf8_bytes() {
        Some(text) => String::from_utf8_lossy(text).into_owned(),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, input: &str) -> Result<Vec<String>, EvalError> {
        let filter = compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        run(
            &filter,
            jaq_json::read::parse_single(input.as_bytes()).unwrap(),
            10,
            1_000,
        )
    }

    #[test]
    fn runs_with_the_standard_library() {
        assert_eq!(eval("map(. * 2) | add", "[1,2,3]").unwrap(), vec!["12"]);
        assert_eq!(eval(".[] | select(. > 1)", "[1,2,3]").unwrap(), vec!["2", "3"]);
        assert_eq!(eval("{a: .x}", r#"{"x":"y"}"#).unwrap(), vec![r#"{"a":"y"}"#]);
        assert!(matches!(eval("error(\"no\")", "null"), Err(EvalError::Failed(m)) if m == "no"));
        for no_json in ["nan", "infinite", "\"a\" | tobytes"] {
            let out = eval(no_json, "null");
            assert!(
                matches!(&out, Err(EvalError::Failed(m)) if m.contains("no JSON form")),
                "{no_json}: {out:?}"
            );
        }
        let deep = eval("reduce range(200) as $i (0; [.])", "null");
        assert!(
            matches!(&deep, Err(EvalError::Failed(m)) if m.contains("deeper")),
            "{deep:?}"
        );
        assert_eq!(
            depth(r#"[{"a": "[[[\"{\\"}, [[]]]"#),
            3,
            "brackets in strings do not count"
        );
    }

    #[test]
    fn outputs_are_bounded_in_count_and_bytes() {
        assert_eq!(eval("range(100)", "null").unwrap().len(), 10, "stops at max_outputs");
        let big = eval("[range(1000)] | tostring", "null");
        assert_eq!(big, Err(EvalError::TooLarge("output exceeds 1000 bytes".into())));
    }

    fn err(src: &str) -> CompileError {
        compile(src).err().unwrap_or_else(|| panic!("{src} compiled"))
    }

    #[test]
    fn errors_name_their_position() {
        let e = err(".a |");
        assert_eq!((e.line, e.column), (1, 5), "{e}");
        let e = err(".a | nosuch(1)");
        assert_eq!((e.line, e.column), (1, 6), "{e}");
        assert!(e.message.contains("nosuch"), "{e}");
        let e = err("{a: 1\n, b: (1 +)}");
        assert_eq!(e.line, 2, "{e}");
        let e = err("\"abc");
        assert!(e.message.contains("quote"), "{e}");
    }

    #[test]
    fn left_out_builtins_are_undefined_even_through_definitions() {
        for name in ["env", "input", "halt", "debug", "stderr", "localtime"] {
            let e = err(name);
            assert!(e.message.contains("undefined"), "{name}: {e}");
        }
        assert!(compile("now").is_ok(), "the clock is allowed: it reveals nothing");
    }
}
