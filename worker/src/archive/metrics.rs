//! Prometheus metrics of the archive.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use super::recovery::Work;

fn work_label(work: Work) -> &'static str {
    match work {
        Work::Archive => "archive",
        Work::DeleteLive => "delete_live",
    }
}

/// - `livefleet_archive_broadcasts_total{result="complete|failed"}`
/// - `livefleet_archive_seconds`: from a broadcast's end to its VOD complete (master stored, storyboard made)
/// - `livefleet_archive_objects_copied_total`: server-side copies made
/// - `livefleet_archive_live_objects_deleted_total`: live objects deleted after the archive
/// - `livefleet_archive_records_rebuilt_total`: records rebuilt from the VODs in the store
/// - `livefleet_archive_storyboards_total{result="stored|failed"}`: VOD
///   storyboards (thumbnail tiles for scrubbing)
/// - `livefleet_archive_takeovers_total{work="archive|delete_live"}`: work a
///   stopped node left, taken over by this one
#[derive(Debug, Clone)]
pub struct ArchiveMetrics {
    broadcasts: IntCounterVec,
    takeovers: IntCounterVec,
    storyboards: IntCounterVec,
    seconds: Histogram,
    pub(super) copied: IntCounter,
    pub(super) deleted: IntCounter,
    pub(super) rebuilt: IntCounter,
}

impl ArchiveMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let broadcasts = IntCounterVec::new(
            Opts::new(
                "livefleet_archive_broadcasts_total",
                "Broadcasts archived as VOD, by result: complete, failed (the live copy is kept).",
            ),
            &["result"],
        )?;
        let seconds = Histogram::with_opts(
            HistogramOpts::new(
                "livefleet_archive_seconds",
                "Time from a broadcast's end to its VOD complete: master playlist stored and storyboard made.",
            )
            .buckets(vec![0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
        )?;
        let copied = IntCounter::new(
            "livefleet_archive_objects_copied_total",
            "Objects copied inside the store from live/ to vod/.",
        )?;
        let deleted = IntCounter::new(
            "livefleet_archive_live_objects_deleted_total",
            "Live objects deleted once their broadcast was archived.",
        )?;
        let rebuilt = IntCounter::new(
            "livefleet_archive_records_rebuilt_total",
            "Records of VODs the broadcast index no longer listed (a bus that lost its storage), rebuilt from their manifests in the store.",
        )?;
        let takeovers = IntCounterVec::new(
            Opts::new(
                "livefleet_archive_takeovers_total",
                "Archives (work=archive) and deletions of live copies (work=delete_live) that a stopped node left, taken over by this one.",
            ),
            &["work"],
        )?;
        let storyboards = IntCounterVec::new(
            Opts::new(
                "livefleet_archive_storyboards_total",
                "VOD storyboards (thumbnail tiles for scrubbing), by result: stored, failed (the VOD plays without one).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(broadcasts.clone()))?;
        registry.register(Box::new(storyboards.clone()))?;
        registry.register(Box::new(takeovers.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        registry.register(Box::new(copied.clone()))?;
        registry.register(Box::new(deleted.clone()))?;
        registry.register(Box::new(rebuilt.clone()))?;
        for result in ["complete", "failed"] {
            broadcasts.with_label_values(&[result]);
        }
        for result in ["stored", "failed"] {
            storyboards.with_label_values(&[result]);
        }
        for work in [Work::Archive, Work::DeleteLive] {
            takeovers.with_label_values(&[work_label(work)]);
        }
        Ok(Self {
            broadcasts,
            takeovers,
            storyboards,
            seconds,
            copied,
            deleted,
            rebuilt,
        })
    }

    pub(super) fn taken_over(&self, work: Work) {
        self.takeovers.with_label_values(&[work_label(work)]).inc();
    }

    pub(super) fn storyboard(&self, stored: bool) {
        let result = if stored { "stored" } else { "failed" };
        self.storyboards.with_label_values(&[result]).inc();
    }

    pub(super) fn finished(&self, complete: bool, seconds: f64) {
        let result = if complete { "complete" } else { "failed" };
        self.broadcasts.with_label_values(&[result]).inc();
        if complete {
            self.seconds.observe(seconds);
        }
    }
}
