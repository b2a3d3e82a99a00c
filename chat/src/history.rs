//! A channel's chat history: one JetStream stream per channel
//! (`LIVEFLEET_CHAT_<channel>`, subject `livefleet.chat.<channel>`).
//!
//! The stream sequence is the Centrifugo offset, so offsets are contiguous
//! within a channel and every relay sees the same ones; the stream's
//! creation time (nanoseconds) is the epoch, so a stream deleted and made
//! again can never be mistaken for the old one. See
//! `docs/design/chat-offsets.md` for the alternatives.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use livefleet_base::ChannelName;
use livefleet_bus::replication::{ensure_stream, StreamKind};

use crate::protocol::Publication;

/// How long one history operation may wait on NATS.
const PATIENCE: Duration = Duration::from_secs(5);
/// Publications one read returns at most.
pub const MAX_READ: usize = 1000;

/// A history operation that failed (NATS unreachable, a stream lost).
#[derive(Debug, thiserror::Error)]
#[error("chat history of {channel}: {what}")]
pub struct HistoryError {
    pub channel: String,
    pub what: String,
}

fn err(channel: &ChannelName, what: impl std::fmt::Display) -> HistoryError {
    HistoryError {
        channel: channel.to_string(),
        what: what.to_string(),
    }
}

/// The first and last offsets a channel's history holds (`last` 0: empty),
/// and its epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub first: u64,
    pub last: u64,
    pub epoch: String,
}

/// The stored publications of every channel.
pub struct History {
    js: jetstream::Context,
    size: i64,
    ttl: Duration,
    /// Channels whose stream is known to exist, with its epoch.
    ensured: Mutex<HashMap<ChannelName, String>>,
}

/// The subject a channel's publications are stored under.
pub fn subject(channel: &ChannelName) -> String {
    format!("livefleet.chat.{channel}")
}

/// The stream of a channel.
pub fn stream_name(channel: &ChannelName) -> String {
    format!("LIVEFLEET_CHAT_{channel}")
}

impl History {
    /// Histories keeping `size` messages for `ttl` per channel.
    pub fn new(js: jetstream::Context, size: i64, ttl: Duration) -> Self {
        Self {
            js,
            size,
            ttl,
            ensured: Mutex::new(HashMap::new()),
        }
    }

    async fn ensure(&self, channel: &ChannelName) -> Result<String, HistoryError> {
        if let Some(epoch) = self
            .ensured
            .lock()
            .ok()
            .and_then(|m| m.get(channel).cloned())
        {
            return Ok(epoch);
        }
        let config = stream::Config {
            name: stream_name(channel),
            description: Some(format!("livefleet chat history of channel {channel}")),
            subjects: vec![subject(channel)],
            max_messages: self.size,
            max_age: self.ttl,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120).min(self.ttl),
            allow_direct: true,
            ..Default::default()
        };
        tokio::time::timeout(
            PATIENCE * 4,
            ensure_stream(&self.js, config, StreamKind::State),
        )
        .await
        .map_err(|_| err(channel, "NATS did not answer"))?
        .map_err(|e| err(channel, e))?;
        let info = self.info(channel).await?;
        let epoch = info.created.unix_timestamp_nanos().to_string();
        if let Ok(mut m) = self.ensured.lock() {
            m.insert(channel.clone(), epoch.clone());
        }
        Ok(epoch)
    }

    async fn info(&self, channel: &ChannelName) -> Result<stream::Info, HistoryError> {
        let fetch = async {
            let s = self
                .js
                .get_stream(stream_name(channel))
                .await
                .map_err(|e| err(channel, e))?;
            s.get_info().await.map_err(|e| err(channel, e))
        };
        tokio::time::timeout(PATIENCE, fetch)
            .await
            .map_err(|_| err(channel, "NATS did not answer"))?
    }

    /// Where the channel's history stands.
    pub async fn position(&self, channel: &ChannelName) -> Result<Position, HistoryError> {
        let epoch = self.ensure(channel).await?;
        let info = match self.info(channel).await {
            Ok(i) => i,
            Err(e) => {
                // The stream may have been deleted under us: make it again next time.
                if let Ok(mut m) = self.ensured.lock() {
                    m.remove(channel);
                }
                return Err(e);
            }
        };
        let epoch_now = info.created.unix_timestamp_nanos().to_string();
        if epoch_now != epoch {
            if let Ok(mut m) = self.ensured.lock() {
                m.insert(channel.clone(), epoch_now.clone());
            }
        }
        Ok(Position {
            first: info.state.first_sequence,
            last: info.state.last_sequence,
            epoch: epoch_now,
        })
    }

    /// Stores `publication`; returns its offset. `id` deduplicates a retried store.
    pub async fn append(
        &self,
        channel: &ChannelName,
        publication: &Publication,
        id: &str,
    ) -> Result<u64, HistoryError> {
        self.ensure(channel).await?;
        let body = serde_json::to_vec(publication).map_err(|e| err(channel, e))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        let stored = async {
            let ack = self
                .js
                .publish_with_headers(subject(channel), headers, body.into())
                .await
                .map_err(|e| err(channel, e))?;
            ack.await.map_err(|e| err(channel, e))
        };
        let ack = tokio::time::timeout(PATIENCE, stored)
            .await
            .map_err(|_| err(channel, "NATS did not store the message in time"))??;
        Ok(ack.sequence)
    }

    /// Stores `data` as a publication (by `info`, if a client sent it); `id`
    /// deduplicates a retried store. Returns its offset.
    pub async fn append_data(
        &self,
        channel: &ChannelName,
        data: &crate::message::ChatData,
        info: Option<crate::protocol::ClientInfo>,
        id: &str,
    ) -> Result<u64, HistoryError> {
        let raw = serde_json::to_string(data).map_err(|e| err(channel, e))?;
        let publication = Publication {
            data: serde_json::value::RawValue::from_string(raw).map_err(|e| err(channel, e))?,
            offset: 0,
            info,
        };
        self.append(channel, &publication, id).await
    }

    /// A moderator deleted message `id`: the deletion is stored in the
    /// history, so every viewer is told and the chat files leave it out.
    pub async fn delete_message(
        &self,
        channel: &ChannelName,
        id: &str,
        by: &str,
    ) -> Result<u64, HistoryError> {
        if !crate::message::is_message_id(id) {
            return Err(err(channel, "a message id is 1 to 64 letters and digits"));
        }
        let data = crate::message::ChatData::Delete {
            id: id.to_owned(),
            by: by.to_owned(),
        };
        self.append_data(channel, &data, None, &format!("delete-{id}"))
            .await
    }

    /// Publications from offset `from` through `to` (inclusive), at most `max`.
    pub async fn read(
        &self,
        channel: &ChannelName,
        from: u64,
        to: u64,
        max: usize,
    ) -> Result<Vec<Publication>, HistoryError> {
        let mut out = Vec::new();
        if from > to || max == 0 {
            return Ok(out);
        }
        self.scan(
            channel,
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from.max(1),
            },
            |offset, _, p| {
                if offset > to {
                    return false;
                }
                out.push(p);
                offset < to && out.len() < max
            },
            to,
        )
        .await?;
        Ok(out)
    }

    /// Walks the channel's stored publications from `start` in order, until
    /// `visit` (given offset, store time in Unix ms, publication) answers
    /// false or the offset `last` (the top when the walk began) is passed.
    pub async fn scan(
        &self,
        channel: &ChannelName,
        start: consumer::DeliverPolicy,
        mut visit: impl FnMut(u64, i64, Publication) -> bool,
        last: u64,
    ) -> Result<(), HistoryError> {
        self.ensure(channel).await?;
        let walk = async {
            let mut messages = self.consume(channel, start).await?;
            while let Some(m) = messages.next().await {
                let m = m.map_err(|e| err(channel, e))?;
                let Ok(info) = m.info() else { continue };
                let offset = info.stream_sequence;
                let at = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
                let more = match serde_json::from_slice::<Publication>(&m.payload) {
                    Ok(mut p) => {
                        p.offset = offset;
                        visit(offset, at, p)
                    }
                    Err(e) => {
                        tracing::warn!(%channel, offset, error = %e, "skipping an unreadable chat history entry");
                        true
                    }
                };
                if !more || offset >= last {
                    break;
                }
            }
            Ok::<(), HistoryError>(())
        };
        tokio::time::timeout(PATIENCE * 2, walk)
            .await
            .map_err(|_| err(channel, "NATS did not deliver the history in time"))?
    }

    /// An ordered consumer of the channel's stream from `start`.
    async fn consume(
        &self,
        channel: &ChannelName,
        start: consumer::DeliverPolicy,
    ) -> Result<consumer::pull::Ordered, HistoryError> {
        let stream = self
            .js
            .get_stream(stream_name(channel))
            .await
            .map_err(|e| err(channel, e))?;
        stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: start,
                ..Default::default()
            })
            .await
            .map_err(|e| err(channel, e))?
            .messages()
            .await
            .map_err(|e| err(channel, e))
    }

    /// Follows the channel's publications after offset `after`, as they are stored.
    pub async fn follow(
        &self,
        channel: &ChannelName,
        after: u64,
    ) -> Result<impl futures::Stream<Item = Publication> + use<>, HistoryError> {
        self.ensure(channel).await?;
        let start = consumer::DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        };
        let messages = self.consume(channel, start).await?;
        let name = channel.clone();
        Ok(messages.filter_map(move |m| {
            let name = name.clone();
            async move {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(channel = %name, error = %e, "chat delivery: a message was not read");
                        return None;
                    }
                };
                let offset = m.info().ok()?.stream_sequence;
                match serde_json::from_slice::<Publication>(&m.payload) {
                    Ok(mut p) => {
                        p.offset = offset;
                        Some(p)
                    }
                    Err(e) => {
                        tracing::warn!(channel = %name, offset, error = %e, "skipping an unreadable chat publication");
                        None
                    }
                }
            }
        }))
    }
}
