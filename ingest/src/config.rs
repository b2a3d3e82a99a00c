//! Settings of the RTMP ingest.

use std::time::Duration;

use serde::Deserialize;

use crate::connection::MAX_USEFUL_CHUNK_SIZE;

/// How the RTMP ingest listens and what it tolerates. Durations are written
/// in seconds (`handshake_timeout_s: 5`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Connections served at once once their handshake is done; further
    /// connections are closed at once.
    pub max_connections: usize,
    /// Connections still in the RTMP handshake, at once. They never take
    /// publishers' slots: when this budget is spent, the oldest unfinished
    /// handshake is closed to make room (see `max_handshakes_per_address`).
    pub max_handshakes: usize,
    /// Unfinished handshakes from one IP address; a new one beyond it closes
    /// that address's oldest.
    pub max_handshakes_per_address: usize,
    /// Time a client has to complete the RTMP handshake.
    #[serde(rename = "handshake_timeout_s", with = "seconds")]
    pub handshake_timeout: Duration,
    /// A connection that sends no media for this long is closed (and its
    /// publish ended). Before publishing starts, it bounds the time between
    /// the handshake and the first media packet.
    #[serde(rename = "idle_timeout_s", with = "seconds")]
    pub idle_timeout: Duration,
    /// A publisher of a channel that already has one is let in when the
    /// first has sent no media for this long (a connection the network
    /// dropped without closing it, whose encoder reconnects): the silent one
    /// is closed and its publish ended first. Below it the new publisher is
    /// refused and the first goes on. Above `idle_timeout_s` it never
    /// applies: the idle timeout closes the silent one first.
    #[serde(rename = "takeover_after_s", with = "seconds")]
    pub takeover_after: Duration,
    /// How often a running publish is checked against the channel registry:
    /// a deleted channel or a changed stream key ends it.
    #[serde(rename = "publish_recheck_s", with = "seconds")]
    pub publish_recheck: Duration,
    /// The RTMP application publishers connect to: `rtmp://HOST:PORT/<app>/<stream key>`.
    pub app: String,
    /// Largest chunk size a publisher may set (Set Chunk Size). Values above
    /// 16777215 (the largest RTMP message) are meaningless; 0 is always refused.
    pub max_chunk_size: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_handshakes: 64,
            max_handshakes_per_address: 16,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            takeover_after: Duration::from_secs(3),
            publish_recheck: Duration::from_secs(2),
            app: "live".to_owned(),
            max_chunk_size: MAX_USEFUL_CHUNK_SIZE,
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = f64::deserialize(d)?;
        Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom)
    }
}
