//! Logs (tracing, text or JSON) and the Prometheus recorder.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::{Layer, PrefixLayer};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Every metric hookline records is exported as `hookline_<name>`, so it cannot collide with
/// another program's on a shared Prometheus.
pub const METRIC_PREFIX: &str = "hookline";

/// How often the recorder folds recorded histogram samples into its summaries. Without it,
/// samples pile up in memory for as long as no one scrapes `/metrics`.
pub const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Install the global log subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder (metrics macros are global; several applications in
/// one test process share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            let recorder = PrefixLayer::new(METRIC_PREFIX).layer(recorder);
            metrics::with_local_recorder(&recorder, || {
                metrics::gauge!("build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            });
            // Another recorder may already be installed (e.g. by an embedding program); then our
            // handle renders our own registry only, which is still correct for /metrics.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Run `upkeep` every `every` until `stop` resolves; the first run is one period after start.
pub async fn run_periodically(every: Duration, upkeep: impl Fn(), stop: impl std::future::Future<Output = ()>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => upkeep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn upkeep_runs_every_period_until_stopped() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(run_periodically(
            Duration::from_millis(5),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
            },
            stop.clone().cancelled_owned(),
        ));
        let repeated = tokio::time::timeout(Duration::from_secs(30), async {
            while runs.load(Ordering::SeqCst) < 3 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(repeated.is_ok(), "upkeep ran {} times", runs.load(Ordering::SeqCst));
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the loop ends when stopped")
            .unwrap();
    }

    #[test]
    fn exported_names_carry_the_prefix_and_build_info_is_set() {
        let text = metrics_handle().render();
        let line = text
            .lines()
            .find(|l| l.starts_with("hookline_build_info{"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains(concat!("version=\"", env!("CARGO_PKG_VERSION"), "\"")),
            "{line}"
        );
        assert!(line.ends_with(" 1"), "{line}");
        let inner = PrometheusBuilder::new().build_recorder();
        let handle = inner.handle();
        let recorder = PrefixLayer::new(METRIC_PREFIX).layer(inner);
        metrics::with_local_recorder(&recorder, || metrics::counter!("x_total").increment(1));
        let text = handle.render();
        assert!(text.contains("hookline_x_total 1"), "{text}");
    }
}
