//! Prometheus metrics of the ingest.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The ingest's metrics, registered once in a [`Registry`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    /// `livefleet_ingest_connections`: connections open now.
    pub connections: IntGauge,
    /// `livefleet_ingest_publishes_total{result="accepted|refused|revoked|ended_by_worker"}`
    /// (revoked: a running publish ended because its channel was deleted or
    /// its stream key changed; ended_by_worker: its worker gave up on it).
    pub publishes: IntCounterVec,
    /// `livefleet_ingest_publishers`: publishes running now.
    pub publishers: IntGauge,
    /// `livefleet_ingest_takeovers_total`: publishes that took their channel
    /// over from a publisher that had gone silent (a dropped connection).
    pub takeovers: IntCounter,
    /// `livefleet_ingest_publishes_refused_total{reason}`: publish requests
    /// refused, by [`Refusal::kind`](crate::Refusal::kind).
    pub refusals: IntCounterVec,
    /// `livefleet_ingest_handshake_failures_total`: connections that never
    /// completed the RTMP handshake (bad bytes, timeout, evicted).
    pub handshake_failures: IntCounter,
    /// `livefleet_ingest_bytes_received_total`: bytes read from publishers.
    pub bytes_received: IntCounter,
    /// `livefleet_ingest_packets_total{track="video|audio"}`: packets forwarded.
    pub packets: IntCounterVec,
    /// `livefleet_ingest_protocol_errors_total{kind}`: connections ended by bad
    /// input or timeouts; `kind` is one of [`ProtocolError::kind`](crate::ProtocolError::kind),
    /// `handshake_timeout`, `handshake_evicted` (closed to make room in the
    /// handshake budget), `connection_limit`, `idle_timeout`, `sink`, `io`.
    pub protocol_errors: IntCounterVec,
    /// `livefleet_ingest_pending_handshakes`: connections still in the RTMP handshake.
    pub pending_handshakes: IntGauge,
    /// `livefleet_ingest_media_unacked_bytes`: media handed to the bus and not
    /// yet acknowledged; it grows while the bus stalls (the packets wait in
    /// memory and are sent again once it answers).
    pub media_unacked_bytes: IntGauge,
    /// `livefleet_ingest_media_redelivered_total`: packets stored only when
    /// sent again after the bus failed to acknowledge them.
    pub media_redelivered: IntCounter,
    /// `livefleet_ingest_media_lost_total`: packets the bus never took.
    pub media_lost: IntCounter,
}

/// Every `kind` of `livefleet_ingest_protocol_errors_total`.
/// `publishes_total`'s result for a publish its worker gave up on.
pub(crate) const ENDED_BY_WORKER: &str = "ended_by_worker";

const PROTOCOL_ERROR_KINDS: [&str; 17] = [
    "handshake",
    "chunk",
    "chunk_size",
    "window_ack_size",
    "library_panic",
    "unsupported_codec",
    "video",
    "audio",
    "timestamp",
    "no_video",
    "closed",
    "handshake_timeout",
    "handshake_evicted",
    "connection_limit",
    "idle_timeout",
    "sink",
    "io",
];

impl IngestMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            connections: IntGauge::new(
                "livefleet_ingest_connections",
                "RTMP connections open now",
            )?,
            publishes: IntCounterVec::new(
                Opts::new(
                    "livefleet_ingest_publishes_total",
                    "Publish requests by result",
                ),
                &["result"],
            )?,
            publishers: IntGauge::new(
                "livefleet_ingest_publishers",
                "Publishes running now",
            )?,
            takeovers: IntCounter::new(
                "livefleet_ingest_takeovers_total",
                "Publishes that took their channel over from a publisher gone silent",
            )?,
            refusals: IntCounterVec::new(
                Opts::new(
                    "livefleet_ingest_publishes_refused_total",
                    "Publish requests refused, by reason (unknown_key, busy, no_capacity, scheduler, registry, deleted, key_changed)",
                ),
                &["reason"],
            )?,
            handshake_failures: IntCounter::new(
                "livefleet_ingest_handshake_failures_total",
                "Connections that never completed the RTMP handshake",
            )?,
            bytes_received: IntCounter::new(
                "livefleet_ingest_bytes_received_total",
                "Bytes read from RTMP clients",
            )?,
            packets: IntCounterVec::new(
                Opts::new(
                    "livefleet_ingest_packets_total",
                    "Media packets forwarded by track",
                ),
                &["track"],
            )?,
            protocol_errors: IntCounterVec::new(
                Opts::new(
                    "livefleet_ingest_protocol_errors_total",
                    "Connections ended by bad input or timeouts, by kind",
                ),
                &["kind"],
            )?,
            pending_handshakes: IntGauge::new(
                "livefleet_ingest_pending_handshakes",
                "Connections still in the RTMP handshake",
            )?,
            media_unacked_bytes: IntGauge::new(
                "livefleet_ingest_media_unacked_bytes",
                "Media bytes handed to the bus and not yet acknowledged",
            )?,
            media_redelivered: IntCounter::new(
                "livefleet_ingest_media_redelivered_total",
                "Media packets stored only when sent again after a failed acknowledgement",
            )?,
            media_lost: IntCounter::new(
                "livefleet_ingest_media_lost_total",
                "Media packets the bus never took",
            )?,
        };
        registry.register(Box::new(m.connections.clone()))?;
        registry.register(Box::new(m.publishes.clone()))?;
        registry.register(Box::new(m.publishers.clone()))?;
        registry.register(Box::new(m.takeovers.clone()))?;
        registry.register(Box::new(m.refusals.clone()))?;
        registry.register(Box::new(m.handshake_failures.clone()))?;
        registry.register(Box::new(m.bytes_received.clone()))?;
        registry.register(Box::new(m.packets.clone()))?;
        registry.register(Box::new(m.protocol_errors.clone()))?;
        registry.register(Box::new(m.pending_handshakes.clone()))?;
        registry.register(Box::new(m.media_unacked_bytes.clone()))?;
        registry.register(Box::new(m.media_redelivered.clone()))?;
        registry.register(Box::new(m.media_lost.clone()))?;
        // Known label values start at zero, so rates and alerts have a series before the first event.
        for reason in [
            "unknown_key",
            "busy",
            "no_capacity",
            "scheduler",
            "registry",
            "deleted",
            "key_changed",
        ] {
            m.refusals.with_label_values(&[reason]);
        }
        for result in ["accepted", "refused", "revoked", ENDED_BY_WORKER] {
            m.publishes.with_label_values(&[result]);
        }
        for kind in PROTOCOL_ERROR_KINDS {
            m.protocol_errors.with_label_values(&[kind]);
        }
        Ok(m)
    }

    /// Metrics registered in a private registry, for tests and tools that do not export them.
    pub fn unregistered() -> Self {
        // Registering fresh metrics in a fresh registry cannot collide.
        Self::new(&Registry::new()).unwrap_or_else(|_| unreachable!("fresh registry"))
    }
}
