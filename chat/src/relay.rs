//! One relay's shared state and the operations its connections, its HTTP
//! API and the admin API use: checking channels, storing messages,
//! moderation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures::StreamExt;
use livefleet_base::{now_unix_ms, ChannelName};
use livefleet_bus::{BroadcastState, ChannelEvent, ChannelRegistry};

use crate::config::ChatConfig;
use crate::history::History;
use crate::hub::Hub;
use crate::message::{ChatData, ChatMessage, Draft};
use crate::metrics::ChatMetrics;
use crate::moderation::Moderation;
use crate::presence::Presence;
use crate::protocol::{error, ClientInfo};
use crate::timeline::Timeline;
use crate::token::{Identity, TokenKey};

/// How long a channel found in the registry is trusted without asking again.
const KNOWN_FOR: Duration = Duration::from_secs(30);
/// Broadcast events older than this when a relay first reads them are not
/// written into the chat (they were, by the relays running then).
const FRESH_EVENT_MS: i64 = 60_000;

/// A relay's state, shared by its connections.
pub struct Relay {
    pub config: ChatConfig,
    pub key: Option<TokenKey>,
    /// This relay's id (random per process), in presence reports and logs.
    pub id: String,
    pub history: Arc<History>,
    pub hub: Arc<Hub>,
    pub timeline: Arc<Timeline>,
    pub moderation: Moderation,
    pub presence: Arc<Presence>,
    pub metrics: ChatMetrics,
    registry: ChannelRegistry,
    known: Mutex<HashMap<ChannelName, Instant>>,
    /// Last accepted message per (channel, user), for slow mode.
    slow_mode: Mutex<HashMap<(ChannelName, String), Instant>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A message refused or failed, as the Centrifugo error code to answer with.
pub type Refused = u32;

impl Relay {
    /// Opens the relay's state on the bus and starts its background tasks
    /// (channel events, viewer counts).
    pub async fn start(
        nats: async_nats::Client,
        js: jetstream::Context,
        config: ChatConfig,
        key: Option<TokenKey>,
        metrics: ChatMetrics,
    ) -> anyhow::Result<Arc<Self>> {
        config.validate().map_err(anyhow::Error::msg)?;
        let history = Arc::new(History::new(
            js.clone(),
            config.history_size,
            Duration::from_secs(config.history_ttl_s.max(1)),
        ));
        let registry = ChannelRegistry::open(&js).await?;
        let moderation = Moderation::watched(&js).await?;
        let hub = Arc::new(Hub::new(nats.clone(), history.clone(), metrics.clone()));
        let presence = Arc::new(Presence::default());
        let timeline = Arc::new(Timeline::new(config.archive_lag_segments.max(1)));
        let id = format!("relay-{:08x}", rand::random::<u32>());
        let events = livefleet_bus::subscribe_events(&js).await?;
        let mut relay = Self {
            config,
            key,
            id: id.clone(),
            history,
            hub: hub.clone(),
            timeline: timeline.clone(),
            moderation,
            presence: presence.clone(),
            metrics,
            registry,
            known: Mutex::new(HashMap::new()),
            slow_mode: Mutex::new(HashMap::new()),
            tasks: Vec::new(),
        };
        relay.tasks.push(tokio::spawn(presence.run(nats, id, hub)));
        let relay = Arc::new_cyclic(|weak: &std::sync::Weak<Relay>| {
            let mut relay = relay;
            relay
                .tasks
                .push(tokio::spawn(follow_events(weak.clone(), events)));
            relay
                .tasks
                .push(tokio::spawn(send_viewer_counts(weak.clone())));
            relay
        });
        Ok(relay)
    }

    /// The channel `name` names, if it exists in the registry.
    pub async fn channel(&self, name: &str) -> Result<ChannelName, Refused> {
        let channel = ChannelName::new(name).map_err(|_| error::UNKNOWN_CHANNEL)?;
        let fresh = self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(&channel).map(|at| at.elapsed() < KNOWN_FOR))
            .unwrap_or(false);
        if fresh {
            return Ok(channel);
        }
        match self.registry.get(&channel).await {
            Ok(Some(_)) => {
                if let Ok(mut k) = self.known.lock() {
                    if k.len() > 100_000 {
                        k.clear();
                    }
                    k.insert(channel.clone(), Instant::now());
                }
                Ok(channel)
            }
            Ok(None) => Err(error::UNKNOWN_CHANNEL),
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot look the channel up in the registry");
                Err(error::INTERNAL)
            }
        }
    }

    /// Viewers of `channel` across every relay: (clients, users).
    pub fn viewers(&self, channel: &ChannelName) -> (u64, u64) {
        let (c, u) = self.hub.counts().get(channel).copied().unwrap_or((0, 0));
        let (oc, ou) = self.presence.others(channel);
        (c + oc, u + ou)
    }

    /// Stores a message `who` sent through connection `client` (its data
    /// checked by [`parse_draft`](crate::message::parse_draft)); returns it
    /// as stored. Rate limits are the connection's business; slow mode and
    /// bans are checked here.
    pub async fn publish(
        &self,
        who: &Identity,
        client: &str,
        channel: &ChannelName,
        draft: Draft,
    ) -> Result<ChatMessage, Refused> {
        let now = now_unix_ms();
        if let Some(ban) = self.moderation.banned(channel, &who.user, now) {
            tracing::info!(%channel, user = %who.user, until = ?ban.until_ms, "a banned user's message was refused");
            self.metrics.message("banned");
            return Err(error::PERMISSION_DENIED);
        }
        if let (_, Some(interval)) = self.config.rules(channel.as_str()) {
            let Ok(mut last) = self.slow_mode.lock() else {
                return Err(error::INTERNAL);
            };
            let key = (channel.clone(), who.user.clone());
            if last.get(&key).is_some_and(|at| at.elapsed() < interval) {
                self.metrics.message("rate_limited");
                return Err(error::TOO_MANY_REQUESTS);
            }
            if last.len() > 100_000 {
                last.retain(|_, at| at.elapsed() < interval);
            }
            last.insert(key, Instant::now());
        }
        let stamp = self.timeline.stamp(channel, draft.media_time, now);
        let message = ChatMessage {
            id: message_id(),
            text: draft.text,
            user: who.user.clone(),
            name: who.name.clone(),
            media_time: stamp.media_time,
            segment: stamp.segment,
            sent_at: now,
        };
        let info = ClientInfo {
            user: who.user.clone(),
            client: client.to_owned(),
        };
        self.store(
            channel,
            &ChatData::Message(message.clone()),
            Some(info),
            &message.id,
        )
        .await?;
        self.metrics.message("accepted");
        Ok(message)
    }

    /// Stores `data` in `channel`'s history; `id` deduplicates retries.
    pub async fn store(
        &self,
        channel: &ChannelName,
        data: &ChatData,
        info: Option<ClientInfo>,
        id: &str,
    ) -> Result<u64, Refused> {
        let timer = self.metrics.store_seconds.start_timer();
        let stored = self.history.append_data(channel, data, info, id).await;
        timer.observe_duration();
        stored.map_err(|e| {
            tracing::warn!(%channel, error = %e, "a chat message could not be stored");
            self.metrics.message("failed");
            error::INTERNAL
        })
    }

    /// A moderator deleted message `id` of `channel`.
    pub async fn delete_message(
        &self,
        channel: &ChannelName,
        id: &str,
        by: &str,
    ) -> Result<(), Refused> {
        if !crate::message::is_message_id(id) {
            return Err(error::BAD_REQUEST);
        }
        self.history
            .delete_message(channel, id, by)
            .await
            .map_err(|e| {
                tracing::warn!(%channel, error = %e, "a deletion could not be stored");
                error::INTERNAL
            })?;
        tracing::info!(%channel, message = id, moderator = by, "message deleted");
        Ok(())
    }
}

/// A fresh message id: 16 random bytes as hex.
pub fn message_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps the timeline current, and writes broadcast starts and stops into
/// their channel's chat.
async fn follow_events(
    relay: std::sync::Weak<Relay>,
    events: impl futures::Stream<Item = (ChannelName, ChannelEvent)>,
) {
    tokio::pin!(events);
    while let Some((channel, event)) = events.next().await {
        let Some(relay) = relay.upgrade() else { return };
        relay.timeline.record(&channel, &event);
        if let ChannelEvent::Broadcast(b) = &event {
            if now_unix_ms() - b.at_ms > FRESH_EVENT_MS {
                continue;
            }
            let state = match b.state {
                BroadcastState::Started => "started",
                BroadcastState::Stopped => "stopped",
            };
            let data = ChatData::Broadcast {
                state: state.to_owned(),
                broadcast: b.broadcast,
                at: b.at_ms,
            };
            let id = format!("broadcast-{state}-{}", b.broadcast);
            let _ = relay.store(&channel, &data, None, &id).await;
        }
    }
    tracing::warn!("the channel events stream ended; media times fall back to the live edge");
}

/// Sends each room the channel's viewer count.
async fn send_viewer_counts(relay: std::sync::Weak<Relay>) {
    let every = relay
        .upgrade()
        .map_or(5, |r| r.config.viewers_interval_s.max(1));
    let mut tick = tokio::time::interval(Duration::from_secs(every));
    loop {
        tick.tick().await;
        let Some(relay) = relay.upgrade() else { return };
        for channel in relay.hub.counts().into_keys() {
            let (viewers, _) = relay.viewers(&channel);
            let data = serde_json::to_string(&ChatData::Viewers { viewers }).unwrap_or_default();
            let push = serde_json::json!({"push": {"channel": channel.as_str(), "pub": {"data": serde_json::from_str::<serde_json::Value>(&data).unwrap_or_default()}}});
            relay
                .hub
                .push(&channel, bytes::Bytes::from(push.to_string()));
        }
    }
}
