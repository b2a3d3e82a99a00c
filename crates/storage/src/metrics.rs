//! Prometheus metrics of object uploads.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// Upload metrics, registered once per process and shared (cloned) by every
/// [`crate::StorageWriter`] and [`crate::RetryingStorage`]:
///
/// - `livefleet_storage_puts_total{result="ok|retry|failed"}`: puts that
///   succeeded (after any number of attempts), attempts that failed and will
///   be tried again, and puts given up.
/// - `livefleet_storage_put_seconds`: duration of one put attempt against
///   the backend.
/// - `livefleet_storage_queue_depth`: puts waiting in writer queues (summed
///   over all writers).
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    pub(crate) puts: IntCounterVec,
    pub(crate) put_seconds: Histogram,
    pub(crate) queue_depth: IntGauge,
}

impl StorageMetrics {
    /// Creates the metrics and registers them in `registry`. Fails if they
    /// are registered there already: register once, then clone.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.puts.clone()))?;
        registry.register(Box::new(metrics.put_seconds.clone()))?;
        registry.register(Box::new(metrics.queue_depth.clone()))?;
        Ok(metrics)
    }

    /// Metrics that are counted but not exported anywhere.
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        let puts = IntCounterVec::new(
            Opts::new(
                "livefleet_storage_puts_total",
                "Object puts by result: ok (stored), retry (an attempt failed and will be retried), failed (given up).",
            ),
            &["result"],
        )?;
        let put_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "livefleet_storage_put_seconds",
                "Duration of one put attempt against the storage backend.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?;
        let queue_depth = IntGauge::new(
            "livefleet_storage_queue_depth",
            "Puts waiting in storage writer queues.",
        )?;
        Ok(StorageMetrics {
            puts,
            put_seconds,
            queue_depth,
        })
    }

    pub(crate) fn ok(&self) {
        self.puts.with_label_values(&["ok"]).inc();
    }

    pub(crate) fn retry(&self) {
        self.puts.with_label_values(&["retry"]).inc();
    }

    pub(crate) fn failed(&self) {
        self.puts.with_label_values(&["failed"]).inc();
    }
}
