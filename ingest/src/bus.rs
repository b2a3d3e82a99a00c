//! The ingest's production gate and sink: stream keys from the channel
//! registry in JetStream KV, media into the JetStream media stream.

use std::net::SocketAddr;
use std::sync::Mutex;

use async_nats::jetstream;
use livefleet_base::{ChannelName, MediaPacket};
use livefleet_bus::{ChannelRegistry, MediaPublisher};

use crate::{IngestMetrics, MediaSink, PublishGate, Refusal, SinkError};

/// Authorizes publishes against the channel registry and, in a fleet, asks
/// the scheduler to place the channel before accepting it.
pub struct RegistryGate {
    registry: ChannelRegistry,
    scheduler: Option<async_nats::Client>,
}

/// How long the ingest waits for the scheduler's placement answer.
const PLACEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl RegistryGate {
    /// Every channel of the registry is accepted (one worker runs them all).
    pub fn new(registry: ChannelRegistry) -> Self {
        Self {
            registry,
            scheduler: None,
        }
    }

    /// A publish is accepted only once the scheduler has placed its channel on a worker.
    pub fn with_placement(registry: ChannelRegistry, client: async_nats::Client) -> Self {
        Self {
            registry,
            scheduler: Some(client),
        }
    }

    async fn place(
        &self,
        client: &async_nats::Client,
        channel: &ChannelName,
        peer: SocketAddr,
    ) -> Result<(), Refusal> {
        let request = livefleet_fleet::PlaceRequest {
            channel: channel.clone(),
            source: None,
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| Refusal::denied(format!("placement request: {e}")).because("scheduler"))?;
        let answer = tokio::time::timeout(
            PLACEMENT_TIMEOUT,
            client.request(livefleet_fleet::PLACE_SUBJECT, body.into()),
        )
        .await;
        let message = match answer {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                tracing::warn!(%peer, %channel, error = %e, "no scheduler answered the placement request");
                return Err(
                    Refusal::denied("no scheduler is running, try again").because("scheduler")
                );
            }
            Err(_) => {
                tracing::warn!(%peer, %channel, "placement request timed out");
                return Err(
                    Refusal::denied("the scheduler did not answer in time, try again")
                        .because("scheduler"),
                );
            }
        };
        match serde_json::from_slice::<livefleet_fleet::PlaceReply>(&message.payload) {
            Ok(r) if r.ok => {
                tracing::info!(%channel, worker = ?r.worker.map(|w| w.to_string()), epoch = ?r.epoch, "channel placed");
                Ok(())
            }
            Ok(r) => {
                let reason = r.reason.unwrap_or_else(|| "no capacity".into());
                tracing::warn!(%peer, %channel, %reason, "publish refused: the channel cannot be placed");
                Err(Refusal::denied(format!("no capacity: {reason}")).because("no_capacity"))
            }
            Err(e) => {
                tracing::warn!(%peer, %channel, error = %e, "unreadable placement answer");
                Err(Refusal::denied("the scheduler's answer was unreadable").because("scheduler"))
            }
        }
    }
}

#[async_trait::async_trait]
impl PublishGate for RegistryGate {
    async fn authorize(&self, stream_key: &str, peer: SocketAddr) -> Result<ChannelName, Refusal> {
        match self.registry.find_by_key(stream_key).await {
            Ok(Some(rec)) => {
                if let Some(client) = &self.scheduler {
                    self.place(client, &rec.name, peer).await?;
                }
                Ok(rec.name)
            }
            Ok(None) => Err(Refusal::bad_name("unknown stream key").because("unknown_key")),
            Err(e) => {
                tracing::error!(%peer, error = %e, "channel registry unavailable; refusing the publish");
                Err(Refusal::denied("channel registry unavailable, try again").because("registry"))
            }
        }
    }

    async fn recheck(&self, stream_key: &str, channel: &ChannelName) -> Result<(), Refusal> {
        match self.registry.get(channel).await {
            Ok(None) => {
                Err(Refusal::bad_name(format!("channel {channel} was deleted")).because("deleted"))
            }
            Ok(Some(rec)) if rec.stream_key != stream_key => Err(Refusal::denied(format!(
                "the stream key of channel {channel} was changed"
            ))
            .because("key_changed")),
            Ok(Some(_)) => Ok(()),
            Err(e) => {
                tracing::debug!(%channel, error = %e, "cannot recheck the publish; it goes on");
                Ok(())
            }
        }
    }
}

/// Publishes media packets into the JetStream media stream, and reads the
/// refusals workers publish on the events stream.
pub struct BusSink {
    publisher: MediaPublisher,
    js: jetstream::Context,
    metrics: Option<IngestMetrics>,
    /// The publisher's counts last added to the metrics (redelivered, lost).
    exported: Mutex<(u64, u64)>,
}

impl BusSink {
    pub fn new(publisher: MediaPublisher, js: jetstream::Context) -> Self {
        Self {
            publisher,
            js,
            metrics: None,
            exported: Mutex::new((0, 0)),
        }
    }

    /// Exports the publisher's delivery counts in `metrics`.
    pub fn with_metrics(mut self, metrics: IngestMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn export(&self) {
        let Some(m) = &self.metrics else { return };
        m.media_unacked_bytes
            .set(i64::try_from(self.publisher.unacked_bytes()).unwrap_or(i64::MAX));
        let now = (self.publisher.redelivered(), self.publisher.lost());
        let mut seen = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        m.media_redelivered.inc_by(now.0.saturating_sub(seen.0));
        m.media_lost.inc_by(now.1.saturating_sub(seen.1));
        *seen = now;
    }
}

#[async_trait::async_trait]
impl MediaSink for BusSink {
    async fn publish(&self, channel: &ChannelName, packet: MediaPacket) -> Result<(), SinkError> {
        let result = self
            .publisher
            .publish(channel, &packet)
            .await
            .map_err(|e| SinkError {
                channel: channel.clone(),
                reason: e.to_string(),
            });
        self.export();
        result
    }

    async fn refusal(&self, channel: &ChannelName, session: u32) -> Option<String> {
        match livefleet_bus::last_refusal(&self.js, channel).await {
            Ok(Some(r)) if r.session == session => Some(r.reason),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(%channel, error = %e, "cannot read the worker's refusals; the publish goes on");
                None
            }
        }
    }
}
