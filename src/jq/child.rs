//! The sandbox process (`hookline jq-sandbox`, started only by [`super::Sandbox`]): reads
//! requests on stdin, answers on stdout, one at a time, until stdin closes.
//!
//! Its own limits are set before it reads a request: an address-space cap (a runaway
//! allocation ends this process, not the server), no core dumps (they would hold event data),
//! and on Linux death with its parent. Time is bounded by the parent, which kills it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use super::frame::{self, Answer, Request};
use super::{engine, scan};

/// Compiled programs kept, by source text; cleared when full.
const CACHED: usize = 256;
/// Stack of the evaluating thread: deep user recursion takes long to fill it, so it is usually
/// the parent's timeout that ends it; when it does fill, the process dies and is replaced.
const EVAL_STACK: usize = 64 * 1024 * 1024;
/// Written once at start, so the parent's first request does not pay for this start-up.
pub const READY: &[u8] = b"ready";

/// Run the sandbox until stdin closes.
pub fn main(memory_mb: u64) -> anyhow::Result<()> {
    // The evaluating thread's stack is mapped before the cap, so the cap is all evaluation's.
    let serve = std::thread::Builder::new()
        .name("jq-eval".into())
        .stack_size(EVAL_STACK)
        .spawn(move || {
            limit_self(memory_mb)?;
            serve()
        })?;
    serve
        .join()
        .map_err(|_| anyhow::anyhow!("the jq sandbox stopped abruptly"))?
}

fn serve() -> anyhow::Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&frame::encode(READY))?;
    stdout.flush()?;
    let mut cache: HashMap<String, Arc<engine::Filter>> = HashMap::new();
    while let Some(body) = frame::read_blocking(&mut stdin)? {
        let reply = match serde_json::from_slice::<Request<String, jaq_json::Val>>(&body) {
            Ok(req) => answer(&mut cache, req),
            Err(e) => Answer::Error(format!("the input cannot be read: {e}")).into(),
        };
        stdout.write_all(&frame::encode(reply.as_bytes()))?;
        stdout.flush()?;
    }
    Ok(())
}

/// One request's answer, as the JSON text of an [`Answer`].
fn answer(cache: &mut HashMap<String, Arc<engine::Filter>>, req: Request<String, jaq_json::Val>) -> String {
    let filter = match cache.get(&req.program) {
        Some(f) => f.clone(),
        None => match scan::check(&req.program).and_then(|()| engine::compile(&req.program)) {
            Ok(f) => {
                if cache.len() >= CACHED {
                    cache.clear();
                }
                let f = Arc::new(f);
                cache.insert(req.program.clone(), f.clone());
                f
            }
            Err(e) => return Answer::Error(e.to_string()).into(),
        },
    };
    match engine::run(&filter, req.input, req.max_outputs, req.max_output_bytes) {
        // The outputs are JSON texts already: joined, not parsed and written again.
        Ok(outputs) => format!("{{\"outputs\":[{}]}}", outputs.join(",")),
        Err(engine::EvalError::Failed(m)) => Answer::Error(m).into(),
        Err(engine::EvalError::TooLarge(m)) => Answer::TooLarge(m).into(),
    }
}

impl From<Answer> for String {
    fn from(a: Answer) -> String {
        serde_json::to_string(&a).unwrap_or_else(|_| r#"{"error":"cannot encode the answer"}"#.into())
    }
}

/// Cap the address space at what the process maps now (its executable, which is large in a
/// debug build, its runtime, the stack above) plus `memory_mb`; no core files; on Linux, die
/// with the parent.
#[cfg(unix)]
fn limit_self(memory_mb: u64) -> anyhow::Result<()> {
    let set = |resource, bytes: u64| {
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct it is given and changes only this process's limits.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            anyhow::bail!("setrlimit failed: {}", std::io::Error::last_os_error());
        }
        Ok(())
    };
    let cap = mapped_bytes().saturating_add(memory_mb.saturating_mul(1024 * 1024));
    set(libc::RLIMIT_AS, cap)?;
    set(libc::RLIMIT_CORE, 0)?;
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_PDEATHSIG only asks the kernel to signal this process when its parent exits.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    Ok(())
}

/// The address space mapped now (Linux: `/proc/self/statm`; elsewhere 0, and the cap is
/// `memory_mb` alone).
#[cfg(unix)]
fn mapped_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages.saturating_mul(page)
}

#[cfg(not(unix))]
fn limit_self(_memory_mb: u64) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(cache: &mut HashMap<String, Arc<engine::Filter>>, program: &str, input: &str) -> String {
        let req = Request {
            program: program.to_string(),
            input: jaq_json::read::parse_single(input.as_bytes()).unwrap(),
            max_outputs: 5,
            max_output_bytes: 100,
        };
        answer(cache, req)
    }

    #[test]
    fn answers_outputs_errors_and_bounds() {
        let mut cache = HashMap::new();
        assert_eq!(ask(&mut cache, ".[] | . * 2", "[1, 2]"), r#"{"outputs":[2,4]}"#);
        assert_eq!(cache.len(), 1);
        assert_eq!(ask(&mut cache, "error(\"bad\")", "null"), r#"{"error":"bad"}"#);
        assert_eq!(
            ask(&mut cache, "[range(100)]", "null"),
            r#"{"too_large":"output exceeds 100 bytes"}"#
        );
        assert!(
            ask(&mut cache, "env", "null").contains("not available"),
            "checked here too"
        );
        let parsed: Answer = serde_json::from_str(&ask(&mut cache, "{a: .}", "1")).unwrap();
        assert_eq!(parsed, Answer::Outputs(vec![serde_json::json!({"a": 1})]));
    }
}
