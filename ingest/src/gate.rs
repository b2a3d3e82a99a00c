//! Who may publish: the stream key check.

use std::collections::HashMap;
use std::net::SocketAddr;

use livefleet_base::ChannelName;

/// Why a publish was refused. `reason` goes back to the publisher in the
/// RTMP error status and into the ingest's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// `NetStream.Publish.BadName` (unknown key, channel busy) or
    /// `NetStream.Publish.Denied` (known key, not allowed now).
    pub code: RefusalCode,
    pub reason: String,
    /// The reason as a metric label, from a fixed set (`unknown_key`, `busy`,
    /// `no_capacity`, `scheduler`, `registry`, `deleted`, `key_changed`,
    /// `worker` for a running publish its worker gave up on; `bad_name` /
    /// `denied` when not given).
    pub kind: &'static str,
}

/// The RTMP status code of a [`Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    /// `NetStream.Publish.BadName`.
    BadName,
    /// `NetStream.Publish.Denied`.
    Denied,
}

impl RefusalCode {
    /// The status code string sent to the publisher.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadName => "NetStream.Publish.BadName",
            Self::Denied => "NetStream.Publish.Denied",
        }
    }
}

impl Refusal {
    /// A `NetStream.Publish.BadName` refusal.
    pub fn bad_name(reason: impl Into<String>) -> Self {
        Self {
            code: RefusalCode::BadName,
            reason: reason.into(),
            kind: "bad_name",
        }
    }

    /// A `NetStream.Publish.Denied` refusal.
    pub fn denied(reason: impl Into<String>) -> Self {
        Self {
            code: RefusalCode::Denied,
            reason: reason.into(),
            kind: "denied",
        }
    }

    /// Names the reason's kind for the metrics.
    pub fn because(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
}

/// Decides whether a stream key may publish, and to which channel.
///
/// The channel registry implements it; [`StaticKeys`] serves tests and
/// development. Implement it with `#[async_trait::async_trait]`.
#[async_trait::async_trait]
pub trait PublishGate: Send + Sync + 'static {
    /// The channel `stream_key` publishes to, or why it may not.
    async fn authorize(&self, stream_key: &str, peer: SocketAddr) -> Result<ChannelName, Refusal>;

    /// Asked every few seconds while `channel` publishes with `stream_key`:
    /// a refusal (the channel was deleted, its key changed) ends the publish
    /// with that status. A gate that cannot tell (its store is down) answers
    /// `Ok`: an outage never cuts a publisher off.
    async fn recheck(&self, _stream_key: &str, _channel: &ChannelName) -> Result<(), Refusal> {
        Ok(())
    }
}

/// A fixed table of stream keys.
#[derive(Debug, Clone, Default)]
pub struct StaticKeys(pub HashMap<String, ChannelName>);

impl StaticKeys {
    /// A table with one key.
    pub fn single(stream_key: impl Into<String>, channel: ChannelName) -> Self {
        Self(HashMap::from([(stream_key.into(), channel)]))
    }
}

#[async_trait::async_trait]
impl PublishGate for StaticKeys {
    async fn authorize(&self, stream_key: &str, _peer: SocketAddr) -> Result<ChannelName, Refusal> {
        self.0
            .get(stream_key)
            .cloned()
            .ok_or_else(|| Refusal::bad_name("unknown stream key").because("unknown_key"))
    }
}
