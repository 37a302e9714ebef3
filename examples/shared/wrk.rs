//! Running wrk (a second process) against a benchmark's server, shared by the benchmarks.
//! wrk comes from the system's packages (`apt-get install wrk`).

/// What one wrk run reported.
pub struct Report {
    /// wrk's own report, as printed.
    pub text: String,
    pub requests: u64,
    pub secs: f64,
    /// Answers that were not 2xx (or 3xx).
    pub non_2xx: u64,
}

impl Report {
    /// Requests that got a 2xx answer, per second.
    pub fn ok_per_sec(&self) -> f64 {
        (self.requests - self.non_2xx.min(self.requests)) as f64 / self.secs
    }
}

/// Run wrk with 2 threads, `connections` connections and the Lua `script` for `secs` seconds.
pub async fn run(script: &str, connections: usize, secs: u64, url: &str) -> Report {
    let path = std::env::temp_dir().join(format!("hookline-wrk-{}.lua", std::process::id()));
    std::fs::write(&path, script).expect("cannot write the wrk script");
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(&path)
        .arg(url)
        .output()
        .await
        .expect("wrk must be installed (see docs/benchmarks.md)");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (requests, secs) = totals(&text);
    let non_2xx = non_2xx(&text);
    Report {
        text,
        requests,
        secs,
        non_2xx,
    }
}

/// wrk's "N requests in Xs" line.
fn totals(text: &str) -> (u64, f64) {
    text.lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| {
            let mut w = l.split_whitespace();
            let n = w.next()?.parse().ok()?;
            let secs = w.nth(2)?.trim_end_matches(',').trim_end_matches('s').parse().ok()?;
            Some((n, secs))
        })
        .unwrap_or((0, 1.0))
}

/// wrk's "Non-2xx or 3xx responses: N" line (absent when there were none).
fn non_2xx(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
