//! The scheduler's Prometheus metrics, all prefixed `livefleet_scheduler_`.

use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

/// Counters and gauges the scheduler keeps.
#[derive(Clone)]
pub(crate) struct Metrics {
    /// Placement requests by result: `placed`, `existing`, `refused`, `error`, `bad_request`.
    pub placements: IntCounterVec,
    /// Channels refused for lack of capacity.
    pub refused: IntCounter,
    /// Channels moved off a silent worker.
    pub failovers: IntCounter,
    /// Heartbeats that could not be used.
    pub bad_heartbeats: IntCounter,
    /// Workers in the fleet view.
    pub workers: IntGauge,
    /// 1 while this replica leads.
    pub leader: IntGauge,
    /// Time to answer a placement request.
    pub placement_duration: Histogram,
}

impl Metrics {
    pub(crate) fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let m = Metrics {
            placements: IntCounterVec::new(
                Opts::new(
                    "livefleet_scheduler_placements_total",
                    "Placement requests answered, by result",
                ),
                &["result"],
            )?,
            refused: IntCounter::new(
                "livefleet_scheduler_refused_total",
                "Channels refused because no worker had the capacity",
            )?,
            failovers: IntCounter::new(
                "livefleet_scheduler_failovers_total",
                "Channels reassigned away from a silent worker",
            )?,
            bad_heartbeats: IntCounter::new(
                "livefleet_scheduler_bad_heartbeats_total",
                "Heartbeats refused as malformed or out of range",
            )?,
            workers: IntGauge::new(
                "livefleet_scheduler_workers",
                "Workers heard from within the heartbeat timeout",
            )?,
            leader: IntGauge::new(
                "livefleet_scheduler_leader",
                "1 while this replica holds the scheduler lease",
            )?,
            placement_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "livefleet_scheduler_placement_duration_seconds",
                    "Time from a placement request to its answer",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 14)?),
            )?,
        };
        registry.register(Box::new(m.placements.clone()))?;
        registry.register(Box::new(m.refused.clone()))?;
        registry.register(Box::new(m.failovers.clone()))?;
        registry.register(Box::new(m.bad_heartbeats.clone()))?;
        registry.register(Box::new(m.workers.clone()))?;
        registry.register(Box::new(m.leader.clone()))?;
        registry.register(Box::new(m.placement_duration.clone()))?;
        Ok(m)
    }
}
