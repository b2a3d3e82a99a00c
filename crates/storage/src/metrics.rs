//! Prometheus metrics of object uploads.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Upload metrics, registered once per process and shared (cloned) by every
/// [`crate::StorageWriter`] and [`crate::RetryingStorage`]:
///
/// - `livefleet_storage_puts_total{result="ok|retry|failed|dropped"}`: puts
///   that succeeded (after any number of attempts), attempts that failed and
///   will be tried again, puts given up (parked), and segments dropped
///   because the queue stayed full (marked as gaps).
/// - `livefleet_storage_put_seconds`: duration of one put attempt against
///   the backend.
/// - `livefleet_storage_queue_depth`: puts waiting in writer queues (summed
///   over all writers).
/// - `livefleet_storage_parked_puts`: puts given up by a writer and tried
///   again in the background (`puts_total{result="recovered"}` counts those
///   stored that way).
/// - `livefleet_storage_missing_segments`: segments and init segments not
///   stored; the manifests mark them (HLS `EXT-X-GAP`, a hole in the MPD).
/// - `livefleet_storage_deletes_total{result="ok|failed"}`: expired objects
///   a writer deleted, and deletes it gave up (left to a lifecycle rule).
/// - `livefleet_storage_manifests_held_total`: manifest versions not stored
///   because a segment they name was lost after they were made; the next
///   version, which marks the gap, replaces them.
#[derive(Debug, Clone)]
pub struct StorageMetrics {
    pub(crate) puts: IntCounterVec,
    pub(crate) put_seconds: Histogram,
    pub(crate) queue_depth: IntGauge,
    pub(crate) parked: IntGauge,
    pub(crate) missing: IntGauge,
    pub(crate) manifests_held: IntCounter,
    pub(crate) deletes: IntCounterVec,
}

impl StorageMetrics {
    /// Creates the metrics and registers them in `registry`. Fails if they
    /// are registered there already: register once, then clone.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.puts.clone()))?;
        registry.register(Box::new(metrics.put_seconds.clone()))?;
        registry.register(Box::new(metrics.queue_depth.clone()))?;
        registry.register(Box::new(metrics.parked.clone()))?;
        registry.register(Box::new(metrics.missing.clone()))?;
        registry.register(Box::new(metrics.manifests_held.clone()))?;
        registry.register(Box::new(metrics.deletes.clone()))?;
        // Every result starts at zero, so rates and alerts have a series before the first event.
        for result in ["ok", "retry", "failed", "recovered", "dropped"] {
            metrics.puts.with_label_values(&[result]);
        }
        for result in ["ok", "failed"] {
            metrics.deletes.with_label_values(&[result]);
        }
        Ok(metrics)
    }

    /// Metrics that are counted but not exported anywhere.
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        let puts = IntCounterVec::new(
            Opts::new(
                "livefleet_storage_puts_total",
                "Object puts by result: ok (stored), retry (an attempt failed and will be retried), failed (given up and parked), recovered (a parked put stored in the background), dropped (a segment not queued because the queue stayed full; marked as a gap).",
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
        let parked = IntGauge::new(
            "livefleet_storage_parked_puts",
            "Puts given up by storage writers and retried in the background.",
        )?;
        let missing = IntGauge::new(
            "livefleet_storage_missing_segments",
            "Segments not stored (marked as gaps in the manifests).",
        )?;
        let manifests_held = IntCounter::new(
            "livefleet_storage_manifests_held_total",
            "Manifest versions not stored because a segment they name was lost; a later version marks the gap.",
        )?;
        let deletes = IntCounterVec::new(
            Opts::new(
                "livefleet_storage_deletes_total",
                "Deletes of expired objects by storage writers, by result: ok, or failed (given up after retries; the object is left to the bucket's lifecycle rule).",
            ),
            &["result"],
        )?;
        Ok(StorageMetrics {
            deletes,
            puts,
            put_seconds,
            queue_depth,
            parked,
            missing,
            manifests_held,
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

    pub(crate) fn dropped(&self) {
        self.puts.with_label_values(&["dropped"]).inc();
    }

    pub(crate) fn deleted(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.deletes.with_label_values(&[result]).inc();
    }

    pub(crate) fn recovered(&self) {
        self.puts.with_label_values(&["recovered"]).inc();
    }
}
