//! The cost of jq per delivery (not a test; run it in release mode, after building hookline,
//! whose binary is the sandbox):
//!
//! ```text
//! cargo build --release --bin hookline --example bench_jq
//! target/release/examples/bench_jq [--evals 20000] [--callers 8]
//! ```
//!
//! Measures a typical transform through the sandbox (one caller at a time, then `--callers`
//! concurrent ones sharing the default pool of one process per core, at least 2), and a plain
//! path on the in-process fast path, on the input an endpoint's transform gets.

use std::time::{Duration, Instant};

use hookline::jq::{Limits, Program, Sandbox, SandboxConfig};
use serde_json::{Value, json};

// Only its command-line reader is used here.
#[allow(dead_code)]
#[path = "shared/bench.rs"]
mod bench;

const TRANSFORM: &str = r#"{"$body": {order: .data.id, total: .data.total}, "$headers": {"x-kind": .type}}"#;
const FAST: &str = ".data.id // null";

fn input() -> Value {
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"sku": format!("SKU-{i}"), "qty": i + 1, "price": 120}))
        .collect();
    json!({
        "id": "0193a5b2-7c1e-7d4a-9b1e-3f2a1c0d9e8f",
        "type": "order.created",
        "timestamp": "2026-12-07T10:00:00Z",
        "data": {"id": "A-1042", "total": 980, "currency": "RUB", "customer": {"name": "Анна", "phone": "+79991234567"}, "items": items},
    })
}

/// Run `n` evaluations split over `callers` concurrent tasks; µs per evaluation (wall clock).
async fn measure(sandbox: &Sandbox, program: &Program, n: usize, callers: usize, limits: Limits) -> f64 {
    let input = input();
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (sandbox, program, input) = (sandbox.clone(), program.clone(), input.clone());
            tokio::spawn(async move {
                for _ in 0..n / callers {
                    sandbox.run(&program, &input, limits).await.expect("the transform runs");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a caller");
    }
    started.elapsed().as_secs_f64() * 1e6 / (n / callers * callers) as f64
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (n, callers) = (
        bench::arg("--evals", 20_000) as usize,
        bench::arg("--callers", 8) as usize,
    );
    let dir = std::env::current_exe()?;
    let exe = dir
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("hookline"))
        .filter(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("build the hookline binary first: cargo build --release --bin hookline"))?;
    let mut config = SandboxConfig::new();
    config.exe = exe;
    let workers = config.workers;
    let sandbox = Sandbox::new(config);
    let limits = Limits {
        timeout: Duration::from_secs(5),
        ..sandbox.limits(1)
    };
    let transform = Program::compile(TRANSFORM)?;
    let fast = Program::compile(FAST)?;
    assert!(transform.fast_path().is_none() && fast.fast_path().is_some());
    let out = sandbox.run(&transform, &input(), limits).await?;
    println!("transform: {TRANSFORM}\n  output: {}", out[0]);
    measure(&sandbox, &transform, 2_000, workers, limits).await; // start and warm every child
    let one = measure(&sandbox, &transform, n, 1, limits).await;
    println!("sandbox, 1 caller:        {one:8.1} µs/eval ({:.0} evals/s)", 1e6 / one);
    let many = measure(&sandbox, &transform, n, callers, limits).await;
    println!(
        "sandbox, {callers} callers, {workers} children: {many:8.1} µs/eval ({:.0} evals/s)",
        1e6 / many
    );
    let native = measure(&sandbox, &fast, n * 10, 1, limits).await;
    println!("fast path `{FAST}`: {native:8.2} µs/eval");
    Ok(())
}
