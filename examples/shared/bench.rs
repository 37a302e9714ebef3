//! What the chat-platform benchmarks share: their command-line numbers, latency percentiles and
//! the database they run on.

use hookline::config::{Config, DatabaseConfig};
use hookline::secrets::Secret;

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile of sorted microseconds, in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// PostgreSQL in a fresh schema when `HOOKLINE_BENCH_DATABASE_URL` is set, else the embedded
/// SQLite of `config`; the backend's name for the report.
pub async fn choose_database(config: &mut Config) -> anyhow::Result<&'static str> {
    let Ok(url) = std::env::var("HOOKLINE_BENCH_DATABASE_URL") else {
        return Ok("sqlite (synchronous=FULL)");
    };
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await?;
    let sep = if url.contains('?') { '&' } else { '?' };
    config.database = DatabaseConfig::Postgres {
        url: Secret::new(format!("{url}{sep}options=-c%20search_path%3D{schema}")),
    };
    config.master_key = Some(Secret::new([1u8; 32]));
    Ok("postgres")
}
