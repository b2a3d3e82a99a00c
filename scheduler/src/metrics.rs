//! The scheduler's Prometheus metrics, all prefixed `livefleet_scheduler_`.
//! Every label is bounded: results and reasons from fixed sets, `state`
//! `ready|draining`, `encoder` `x264|nvenc`.

use livefleet_fleet::FleetSummary;
use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Counters and gauges the scheduler keeps.
#[derive(Clone)]
pub(crate) struct Metrics {
    /// Placement requests by result: `placed`, `existing`, `refused`, `error`, `bad_request`.
    pub placements: IntCounterVec,
    /// Channels refused (or left waiting on failover) for lack of a fit, by
    /// reason ([`livefleet_fleet::NoFit::kind`], or `profile` when the channel's profile
    /// cannot be costed).
    pub refusals: IntCounterVec,
    /// Channels moved off a silent worker.
    pub failovers: IntCounter,
    /// Heartbeats that could not be used.
    pub bad_heartbeats: IntCounter,
    /// Workers in the fleet view, by state.
    workers: IntGaugeVec,
    /// 1 while this replica leads.
    pub leader: IntGauge,
    /// Times this replica became leader.
    pub leader_changes: IntCounter,
    /// Time to answer a placement request.
    pub placement_duration: Histogram,
    /// Pixel rate free and in all on ready workers, by encoder kind.
    free_capacity: IntGaugeVec,
    capacity: IntGaugeVec,
    nvenc_sessions_free: IntGauge,
}

impl Metrics {
    pub(crate) fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let gauges =
            |name: &str, help: &str, label: &str| IntGaugeVec::new(Opts::new(name, help), &[label]);
        let m = Metrics {
            placements: IntCounterVec::new(
                Opts::new(
                    "livefleet_scheduler_placements_total",
                    "Placement requests answered, by result",
                ),
                &["result"],
            )?,
            refusals: IntCounterVec::new(
                Opts::new(
                    "livefleet_scheduler_refusals_total",
                    "Channels refused because no worker could take them, by reason (no_workers, all_draining, no_encoder, no_sessions, no_capacity, profile)",
                ),
                &["reason"],
            )?,
            failovers: IntCounter::new(
                "livefleet_scheduler_failovers_total",
                "Channels reassigned away from a silent worker",
            )?,
            bad_heartbeats: IntCounter::new(
                "livefleet_scheduler_bad_heartbeats_total",
                "Heartbeats refused as malformed or out of range",
            )?,
            workers: gauges(
                "livefleet_scheduler_workers",
                "Workers heard from within the heartbeat timeout, by state (ready, draining)",
                "state",
            )?,
            leader: IntGauge::new(
                "livefleet_scheduler_leader",
                "1 while this replica holds the scheduler lease",
            )?,
            leader_changes: IntCounter::new(
                "livefleet_scheduler_leader_changes_total",
                "Times this replica became the leader",
            )?,
            placement_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "livefleet_scheduler_placement_duration_seconds",
                    "Time from a placement request to its answer",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 14)?),
            )?,
            free_capacity: gauges(
                "livefleet_scheduler_free_capacity_pixels_per_second",
                "Encoded pixels per second still free on ready workers, by encoder kind: the autoscaling signal",
                "encoder",
            )?,
            capacity: gauges(
                "livefleet_scheduler_capacity_pixels_per_second",
                "Encoded pixels per second the ready workers can run in real time, by encoder kind",
                "encoder",
            )?,
            nvenc_sessions_free: IntGauge::new(
                "livefleet_scheduler_nvenc_sessions_free",
                "NVENC sessions still free on ready GPU workers whose driver caps them",
            )?,
        };
        registry.register(Box::new(m.placements.clone()))?;
        registry.register(Box::new(m.refusals.clone()))?;
        registry.register(Box::new(m.failovers.clone()))?;
        registry.register(Box::new(m.bad_heartbeats.clone()))?;
        registry.register(Box::new(m.workers.clone()))?;
        registry.register(Box::new(m.leader.clone()))?;
        registry.register(Box::new(m.leader_changes.clone()))?;
        registry.register(Box::new(m.placement_duration.clone()))?;
        registry.register(Box::new(m.free_capacity.clone()))?;
        registry.register(Box::new(m.capacity.clone()))?;
        registry.register(Box::new(m.nvenc_sessions_free.clone()))?;
        m.fleet(&FleetSummary::default());
        // Known label values start at zero, so rates and alerts have a series before the first event.
        for reason in [
            "no_workers",
            "all_draining",
            "no_encoder",
            "no_sessions",
            "no_capacity",
            "profile",
        ] {
            m.refusals.with_label_values(&[reason]);
        }
        for result in ["placed", "existing", "refused", "error", "bad_request"] {
            m.placements.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// Sets the fleet gauges from the leader's view (all zero when not leading).
    pub(crate) fn fleet(&self, s: &FleetSummary) {
        let set = |v: &IntGaugeVec, label: &str, n: u64| {
            v.with_label_values(&[label])
                .set(i64::try_from(n).unwrap_or(i64::MAX))
        };
        set(&self.workers, "ready", s.ready as u64);
        set(&self.workers, "draining", s.draining as u64);
        set(&self.free_capacity, "x264", s.x264.0);
        set(&self.free_capacity, "nvenc", s.nvenc.0);
        set(&self.capacity, "x264", s.x264.1);
        set(&self.capacity, "nvenc", s.nvenc.1);
        self.nvenc_sessions_free
            .set(i64::try_from(s.nvenc_sessions_free).unwrap_or(i64::MAX));
    }
}
