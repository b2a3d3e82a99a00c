//! The ingest's production gate and sink: stream keys from the channel
//! registry in JetStream KV, media into the JetStream media stream.

use std::net::SocketAddr;

use livefleet_base::{ChannelName, MediaPacket};
use livefleet_bus::{ChannelRegistry, MediaPublisher};

use crate::{MediaSink, PublishGate, Refusal, SinkError};

/// Authorizes publishes against the channel registry.
pub struct RegistryGate {
    registry: ChannelRegistry,
}

impl RegistryGate {
    pub fn new(registry: ChannelRegistry) -> Self {
        Self { registry }
    }
}

#[async_trait::async_trait]
impl PublishGate for RegistryGate {
    async fn authorize(&self, stream_key: &str, peer: SocketAddr) -> Result<ChannelName, Refusal> {
        match self.registry.find_by_key(stream_key).await {
            Ok(Some(rec)) => Ok(rec.name),
            Ok(None) => Err(Refusal::bad_name("unknown stream key")),
            Err(e) => {
                tracing::error!(%peer, error = %e, "channel registry unavailable; refusing the publish");
                Err(Refusal::denied("channel registry unavailable, try again"))
            }
        }
    }
}

/// Publishes media packets into the JetStream media stream.
pub struct BusSink {
    publisher: MediaPublisher,
}

impl BusSink {
    pub fn new(publisher: MediaPublisher) -> Self {
        Self { publisher }
    }
}

#[async_trait::async_trait]
impl MediaSink for BusSink {
    async fn publish(&self, channel: &ChannelName, packet: MediaPacket) -> Result<(), SinkError> {
        self.publisher
            .publish(channel, &packet)
            .await
            .map_err(|e| SinkError {
                channel: channel.clone(),
                reason: e.to_string(),
            })
    }
}
