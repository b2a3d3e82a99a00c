//! Where accepted media goes.

use livefleet_base::{ChannelName, MediaPacket};
use tokio::sync::mpsc;

/// A packet could not be delivered; the publish ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media for channel {channel} could not be delivered: {reason}")]
pub struct SinkError {
    pub channel: ChannelName,
    pub reason: String,
}

/// Receives every packet of every accepted publish, in order per channel,
/// ending with a [`PacketKind::End`](livefleet_base::PacketKind::End) packet.
///
/// The bus implements it (NATS); [`ChannelSink`] serves tests and
/// development. The ingest awaits each call, so a slow sink slows the
/// publisher down (TCP back-pressure) instead of buffering without bound.
#[async_trait::async_trait]
pub trait MediaSink: Send + Sync + 'static {
    async fn publish(&self, channel: &ChannelName, packet: MediaPacket) -> Result<(), SinkError>;

    /// Asked at each recheck of a running publish: why the media's consumer
    /// (the worker) gave up on publish `session` of `channel`, if it did. The
    /// publish is then ended with that reason. A sink that cannot tell (its
    /// store is down) answers `None`: an outage never cuts a publisher off.
    async fn refusal(&self, _channel: &ChannelName, _session: u32) -> Option<String> {
        None
    }
}

/// A sink that hands packets to a tokio channel.
#[derive(Debug, Clone)]
pub struct ChannelSink(mpsc::UnboundedSender<(ChannelName, MediaPacket)>);

impl ChannelSink {
    /// A sink and the receiving end of its packets.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<(ChannelName, MediaPacket)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }
}

#[async_trait::async_trait]
impl MediaSink for ChannelSink {
    async fn publish(&self, channel: &ChannelName, packet: MediaPacket) -> Result<(), SinkError> {
        self.0
            .send((channel.clone(), packet))
            .map_err(|_| SinkError {
                channel: channel.clone(),
                reason: "receiver dropped".to_owned(),
            })
    }
}
