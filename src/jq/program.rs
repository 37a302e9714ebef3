//! A checked expression: its text (what the sandbox compiles and caches) and, for a plain
//! path, the native evaluator that stands in for jaq.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::{CompileError, engine, fast, scan};

/// A compiled expression. Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Program(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    source: String,
    fast: Option<fast::Path>,
}

/// Stack for jaq's recursive parser and compiler. The scan bounds nesting and size well below
/// what this holds; the margin is the point.
const COMPILE_STACK: usize = 32 * 1024 * 1024;

/// Programs by source text: endpoints are reloaded every second, and compiling (jaq parses its
/// standard library each time) costs far more than a lookup. Bounded by clearing when full.
static COMPILED: LazyLock<Mutex<HashMap<String, Result<Program, CompileError>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const CACHED_PROGRAMS: usize = 1_024;

impl Program {
    /// Check `src`: size and nesting, refused builtins, then jaq's parser and compiler.
    pub fn compile(src: &str) -> Result<Program, CompileError> {
        if let Some(done) = COMPILED.lock().ok().and_then(|c| c.get(src).cloned()) {
            return done;
        }
        let result = compile_uncached(src);
        if let Ok(mut cache) = COMPILED.lock() {
            if cache.len() >= CACHED_PROGRAMS {
                cache.clear();
            }
            cache.insert(src.to_string(), result.clone());
        }
        result
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// The native evaluator, when the expression is a plain path.
    pub fn fast_path(&self) -> Option<&fast::Path> {
        self.0.fast.as_ref()
    }
}

fn compile_uncached(src: &str) -> Result<Program, CompileError> {
    scan::check(src)?;
    let owned = src.to_string();
    let checked = std::thread::Builder::new()
        .name("jq-compile".into())
        .stack_size(COMPILE_STACK)
        .spawn(move || engine::compile(&owned).map(drop))
        .map_err(|e| CompileError::at(src, 0, format!("cannot compile now: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(CompileError::at(src, 0, "the expression cannot be compiled".into())));
    checked?;
    Ok(Program(Arc::new(Inner {
        source: src.to_string(),
        fast: fast::Path::parse(src),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_checks_and_keeps_its_source() {
        let p = Program::compile(".data.id // null").unwrap();
        assert_eq!(p.source(), ".data.id // null");
        assert!(p.fast_path().is_some());
        let q = Program::compile("{id: .data.id}").unwrap();
        assert!(q.fast_path().is_none());
        let e = Program::compile(".a | env").unwrap_err();
        assert_eq!((e.line, e.column), (1, 6));
        assert_eq!(
            Program::compile(".a | env").unwrap_err(),
            e,
            "the cached answer is the same"
        );
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Program>();
    }

    #[test]
    fn hostile_nesting_is_refused_without_reaching_the_parser() {
        let deep = "[".repeat(100_000);
        let e = Program::compile(&deep).unwrap_err();
        assert!(e.message.contains("longer") || e.message.contains("nesting"), "{e}");
        let deep = "[".repeat(1_000);
        assert!(Program::compile(&deep).unwrap_err().message.contains("nesting"));
        let chain = ". as $x | ".repeat(200) + ".";
        assert!(Program::compile(&chain).is_ok(), "long but flat: within the stack");
    }
}
