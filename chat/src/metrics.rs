//! Prometheus metrics of a chat relay. Labels are bounded: results, methods
//! and codes come from fixed sets; no channel or user label.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Every `result` of `livefleet_chat_messages_total`.
pub const MESSAGE_RESULTS: [&str; 7] = [
    "accepted",
    "anonymous",
    "banned",
    "invalid",
    "rate_limited",
    "unknown_channel",
    "failed",
];
/// Every `method` of `livefleet_chat_commands_total`.
pub const METHODS: [&str; 12] = [
    "connect",
    "subscribe",
    "unsubscribe",
    "publish",
    "presence",
    "presence_stats",
    "history",
    "ping",
    "send",
    "rpc",
    "refresh",
    "unknown",
];
/// Every `code` of `livefleet_chat_disconnects_total` (`normal`: the client left).
pub const DISCONNECTS: [&str; 11] = [
    "normal", "3001", "3005", "3008", "3012", "3013", "3500", "3501", "3504", "3507", "1009",
];

/// A relay's metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChatMetrics {
    /// `livefleet_chat_connections`: WebSocket connections open now.
    pub connections: IntGauge,
    /// `livefleet_chat_subscriptions`: channel subscriptions open now.
    pub subscriptions: IntGauge,
    /// `livefleet_chat_rooms`: channels with a local subscriber.
    pub rooms: IntGauge,
    /// `livefleet_chat_commands_total{method}`.
    pub commands: IntCounterVec,
    /// `livefleet_chat_messages_total{result}`: publish attempts by outcome.
    pub messages: IntCounterVec,
    /// `livefleet_chat_deliveries_total`: pushes handed to connections.
    pub deliveries: IntCounter,
    /// `livefleet_chat_slow_clients_total`: connections kicked for a full queue.
    pub slow_clients: IntCounter,
    /// `livefleet_chat_disconnects_total{code}`.
    pub disconnects: IntCounterVec,
    /// `livefleet_chat_store_seconds`: time to store a message in the history.
    pub store_seconds: Histogram,
    /// `livefleet_chat_files_written_total`: chat replay files stored.
    pub files_written: IntCounter,
    /// `livefleet_chat_file_failures_total`: chat replay files that could not be stored.
    pub file_failures: IntCounter,
}

impl ChatMetrics {
    /// Registers the relay's metrics in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self::unregistered();
        for c in m.collectors() {
            registry.register(c)?;
        }
        Ok(m)
    }

    /// Metrics that no registry exports (tests).
    pub fn unregistered() -> Self {
        let gauge = |n: &str, h: &str| IntGauge::new(n, h).expect("valid metric");
        let counter = |n: &str, h: &str| IntCounter::new(n, h).expect("valid metric");
        let vec = |n: &str, h: &str, l: &str, values: &[&str]| {
            let v = IntCounterVec::new(Opts::new(n, h), &[l]).expect("valid metric");
            for value in values {
                v.with_label_values(&[value]);
            }
            v
        };
        Self {
            connections: gauge(
                "livefleet_chat_connections",
                "WebSocket connections open now",
            ),
            subscriptions: gauge(
                "livefleet_chat_subscriptions",
                "Channel subscriptions open now",
            ),
            rooms: gauge(
                "livefleet_chat_rooms",
                "Channels with at least one subscriber on this relay",
            ),
            commands: vec(
                "livefleet_chat_commands_total",
                "Client commands by method",
                "method",
                &METHODS,
            ),
            messages: vec(
                "livefleet_chat_messages_total",
                "Publish attempts by result",
                "result",
                &MESSAGE_RESULTS,
            ),
            deliveries: counter(
                "livefleet_chat_deliveries_total",
                "Pushes handed to connections",
            ),
            slow_clients: counter(
                "livefleet_chat_slow_clients_total",
                "Connections disconnected because their queue was full",
            ),
            disconnects: vec(
                "livefleet_chat_disconnects_total",
                "Connections closed, by disconnect code",
                "code",
                &DISCONNECTS,
            ),
            store_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "livefleet_chat_store_seconds",
                    "Time to store a message in the chat history",
                )
                .buckets(vec![
                    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ]),
            )
            .expect("valid metric"),
            files_written: counter(
                "livefleet_chat_files_written_total",
                "Chat replay files stored",
            ),
            file_failures: counter(
                "livefleet_chat_file_failures_total",
                "Chat replay files that could not be stored",
            ),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.connections.clone()),
            Box::new(self.subscriptions.clone()),
            Box::new(self.rooms.clone()),
            Box::new(self.commands.clone()),
            Box::new(self.messages.clone()),
            Box::new(self.deliveries.clone()),
            Box::new(self.slow_clients.clone()),
            Box::new(self.disconnects.clone()),
            Box::new(self.store_seconds.clone()),
            Box::new(self.files_written.clone()),
            Box::new(self.file_failures.clone()),
        ]
    }

    /// Counts a command (unknown methods under `unknown`).
    pub fn command(&self, method: &str) {
        let m = if METHODS.contains(&method) {
            method
        } else {
            "unknown"
        };
        self.commands.with_label_values(&[m]).inc();
    }

    /// Counts a publish outcome.
    pub fn message(&self, result: &'static str) {
        self.messages.with_label_values(&[result]).inc();
    }

    /// Counts a closed connection by its code (0: the client left).
    pub fn disconnect(&self, code: u16) {
        let text = if code == 0 {
            "normal".to_owned()
        } else {
            code.to_string()
        };
        let label = if DISCONNECTS.contains(&text.as_str()) {
            text.as_str()
        } else {
            "normal"
        };
        self.disconnects.with_label_values(&[label]).inc();
    }
}
