//! The media stream: [`MediaPacket`]s from the ingest to the worker that
//! transcodes the channel, through the JetStream stream [`MEDIA_STREAM`]
//! (memory storage, short max age) so that a replacement worker can resume
//! from the last keyframe without the publisher reconnecting.
//!
//! Subjects, per channel:
//! - `media.<channel>.key`: the first message of every random access point,
//! - `media.<channel>.data`: every other message.
//!
//! At each video keyframe the publisher re-sends the channel's current video
//! and audio `Config` packets right in front of it, and the first message of
//! that group goes to `.key`. A worker that starts at [`MediaStart::LatestKeyframe`]
//! asks the stream for the last message on `.key` (one lookup) and consumes
//! from there: configs first, then the keyframe, then everything after it.
//! The subscription hides the repeated configs from a worker that reads
//! continuously (a `Config` identical to the last one delivered for its
//! track is skipped). See `docs/design/media-transport.md` for the choices.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishAckFuture, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::fragment::{self, Part, Reassembler, FRAG_HEADER, FRAG_ID_HEADER};
use crate::BusError;

/// Name of the JetStream stream that carries media.
pub const MEDIA_STREAM: &str = "LIVEFLEET_MEDIA";
/// Room left for headers and protocol overhead under the server's
/// `max_payload` when sizing fragments.
const HEADER_ROOM: usize = 1024;
/// `max_payload` assumed while the client has not heard from a server.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Publish acks awaited in the background before `publish` waits: with
/// about 80 packets per second of a channel, several seconds of media the
/// ingest holds while the bus does not answer.
const ACKS_IN_FLIGHT: usize = 1024;
/// How long a packet JetStream did not acknowledge is sent again (with the
/// same message id, so a copy that was stored after all is dropped as a
/// duplicate) before it is given up. Below the stream's default max age.
const REDELIVER_FOR: Duration = Duration::from_secs(20);

/// Settings of the media stream. Used only when the stream is created;
/// an existing stream is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaStreamConfig {
    /// How long packets stay in the stream, in seconds. A replacement worker
    /// can resume from a keyframe this recent. Default 30.
    pub max_age_secs: u64,
    /// Upper bound of the stream's memory, in bytes; the oldest packets go
    /// first. Default 1 GiB.
    pub max_bytes: i64,
}

impl Default for MediaStreamConfig {
    fn default() -> Self {
        Self {
            max_age_secs: 30,
            max_bytes: 1 << 30,
        }
    }
}

/// `media.<channel>.>`: every subject of one channel.
pub fn channel_subjects(channel: &ChannelName) -> String {
    format!("media.{channel}.>")
}

fn key_subject(channel: &ChannelName) -> String {
    format!("media.{channel}.key")
}

fn data_subject(channel: &ChannelName) -> String {
    format!("media.{channel}.data")
}

/// Creates the media stream if it does not exist yet (replicated as
/// [`crate::StreamKind::Media`]), or raises an existing one's replicas to the
/// configured number; its other settings are left as they are.
pub async fn ensure_media_stream(
    js: &jetstream::Context,
    config: &MediaStreamConfig,
) -> Result<(), BusError> {
    let wanted = stream::Config {
        name: MEDIA_STREAM.to_owned(),
        description: Some("livefleet media packets, ingest to worker".to_owned()),
        subjects: vec!["media.>".to_owned()],
        storage: stream::StorageType::Memory,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_age: Duration::from_secs(config.max_age_secs.max(1)),
        max_bytes: config.max_bytes,
        // Re-sent packets (same Nats-Msg-Id) are dropped within this window.
        duplicate_window: Duration::from_secs(config.max_age_secs.clamp(1, 120)),
        allow_direct: true,
        ..Default::default()
    };
    crate::replication::ensure_stream(js, wanted, crate::StreamKind::Media)
        .await
        .map_err(|e| {
            BusError::nats(
                format!("cannot create or open the JetStream stream {MEDIA_STREAM}"),
                e,
            )
        })
}

/// What the publisher remembers of a channel: its current codec configs.
#[derive(Default)]
struct ChannelState {
    session: u32,
    video_config: Option<Bytes>,
    audio_config: Option<Bytes>,
}

enum AckItem {
    Ack {
        ack: PublishAckFuture,
        channel: ChannelName,
        /// What to send again if the ack fails.
        resend: Resend,
    },
    Flush(oneshot::Sender<()>),
}

struct Resend {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
}

/// What the publisher's background task counts.
#[derive(Debug, Default)]
struct Counters {
    failures: AtomicU64,
    redelivered: AtomicU64,
    lost: AtomicU64,
    unacked_bytes: AtomicU64,
}

/// Publishes media packets of any number of channels.
///
/// Publishing does not wait for JetStream's ack: acks are awaited in order by
/// a background task, up to 1024 in flight, after which `publish` waits
/// (back-pressure). A failed ack (the bus stalled, a server restarted) is
/// logged with its channel, counted in [`MediaPublisher::ack_failures`], and
/// the packet is sent again, with the same `Nats-Msg-Id` so that JetStream
/// drops a copy that was stored after all, until the bus takes it or
/// [`REDELIVER_FOR`] has passed ([`MediaPublisher::redelivered`],
/// [`MediaPublisher::lost`]). Meanwhile the packets behind it wait in memory,
/// bounded by the acks in flight, and the publisher stays connected.
/// Packets of one channel must be published from one task, one after another.
///
/// The stream lives in memory: when the NATS server restarts it is gone, the
/// acks fail with "no stream", and the next `publish` creates it again.
pub struct MediaPublisher {
    js: jetstream::Context,
    config: MediaStreamConfig,
    stream_missing: Arc<AtomicBool>,
    channels: Mutex<HashMap<ChannelName, ChannelState>>,
    next_id: AtomicU64,
    acks: mpsc::Sender<AckItem>,
    counters: Arc<Counters>,
}

impl MediaPublisher {
    /// A publisher on `js`; creates the media stream with `config` if missing.
    pub async fn new(
        js: &jetstream::Context,
        config: &MediaStreamConfig,
    ) -> Result<Self, BusError> {
        ensure_media_stream(js, config).await?;
        let (acks, rx) = mpsc::channel(ACKS_IN_FLIGHT);
        let counters = Arc::new(Counters::default());
        let stream_missing = Arc::new(AtomicBool::new(false));
        tokio::spawn(track_acks(
            js.clone(),
            rx,
            Arc::clone(&counters),
            Arc::clone(&stream_missing),
        ));
        Ok(Self {
            js: js.clone(),
            config: config.clone(),
            stream_missing,
            channels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(rand::random()),
            acks,
            counters,
        })
    }

    /// Publishes one packet on the channel's subjects, split into fragments
    /// when it is larger than the server's `max_payload`. Returns once the
    /// message is handed to the connection (not once it is stored).
    pub async fn publish(
        &self,
        channel: &ChannelName,
        packet: &MediaPacket,
    ) -> Result<(), BusError> {
        if self.stream_missing.swap(false, Ordering::Relaxed) {
            tracing::info!("the media stream is gone (NATS server restarted?); creating it again");
            if let Err(e) = ensure_media_stream(&self.js, &self.config).await {
                self.stream_missing.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        let encoded = packet.encode();
        // Messages to send: (starts a random access point, bytes).
        let mut outgoing: Vec<(bool, Bytes)> = Vec::with_capacity(3);
        {
            let mut channels = self
                .channels
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if packet.kind == PacketKind::End {
                channels.remove(channel);
                outgoing.push((false, encoded));
            } else {
                let state = channels.entry(channel.clone()).or_default();
                if state.session != packet.session {
                    *state = ChannelState {
                        session: packet.session,
                        ..Default::default()
                    };
                }
                match (packet.kind, packet.track) {
                    (PacketKind::Config, Track::Video) => {
                        state.video_config = Some(encoded.clone())
                    }
                    (PacketKind::Config, Track::Audio) => {
                        state.audio_config = Some(encoded.clone())
                    }
                    (PacketKind::Frame, Track::Video) if packet.keyframe => {
                        let configs = [state.video_config.clone(), state.audio_config.clone()];
                        for config in configs.into_iter().flatten() {
                            outgoing.push((outgoing.is_empty(), config));
                        }
                        outgoing.push((outgoing.is_empty(), encoded.clone()));
                    }
                    _ => {}
                }
                if outgoing.is_empty() {
                    outgoing.push((false, encoded));
                }
            }
        }
        for (random_access, message) in outgoing {
            self.send(channel, random_access, message).await?;
        }
        Ok(())
    }

    /// Waits until every packet published so far is acknowledged (or failed).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.acks.send(AckItem::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// How many publishes JetStream did not acknowledge since the start.
    pub fn ack_failures(&self) -> u64 {
        self.counters.failures.load(Ordering::Relaxed)
    }

    /// Packets stored only when sent again after a failed ack.
    pub fn redelivered(&self) -> u64 {
        self.counters.redelivered.load(Ordering::Relaxed)
    }

    /// Packets given up after [`REDELIVER_FOR`] of failed deliveries.
    pub fn lost(&self) -> u64 {
        self.counters.lost.load(Ordering::Relaxed)
    }

    /// Bytes published and not yet acknowledged (held for a resend).
    pub fn unacked_bytes(&self) -> u64 {
        self.counters.unacked_bytes.load(Ordering::Relaxed)
    }

    async fn send(
        &self,
        channel: &ChannelName,
        random_access: bool,
        message: Bytes,
    ) -> Result<(), BusError> {
        let max_payload = match self.js.client().server_info().max_payload {
            0 => DEFAULT_MAX_PAYLOAD,
            n => n,
        };
        let pieces = fragment::split(
            &message,
            max_payload.saturating_sub(HEADER_ROOM).max(HEADER_ROOM),
        );
        let count = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        for (index, piece) in (0u32..).zip(pieces) {
            let subject = if random_access && index == 0 {
                key_subject(channel)
            } else {
                data_subject(channel)
            };
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("{id:x}.{index}").as_str());
            if count > 1 {
                if let Some((frag, frag_id)) = (Part::Fragment { id, index, count }).header_values()
                {
                    headers.insert(FRAG_HEADER, frag.as_str());
                    headers.insert(FRAG_ID_HEADER, frag_id.as_str());
                }
            }
            let resend = Resend {
                subject: subject.clone(),
                headers: headers.clone(),
                payload: piece.clone(),
            };
            let ack = self
                .js
                .publish_with_headers(subject, headers, piece)
                .await
                .map_err(|e| {
                    BusError::nats(format!("cannot publish media of channel {channel}"), e)
                })?;
            self.counters
                .unacked_bytes
                .fetch_add(resend.payload.len() as u64, Ordering::Relaxed);
            self.acks
                .send(AckItem::Ack {
                    ack,
                    channel: channel.clone(),
                    resend,
                })
                .await
                .map_err(|_| {
                    BusError::nats(
                        format!("media ack tracking of channel {channel} stopped"),
                        "task ended",
                    )
                })?;
        }
        Ok(())
    }
}

async fn track_acks(
    js: jetstream::Context,
    mut rx: mpsc::Receiver<AckItem>,
    counters: Arc<Counters>,
    stream_missing: Arc<AtomicBool>,
) {
    while let Some(item) = rx.recv().await {
        match item {
            AckItem::Ack {
                ack,
                channel,
                resend,
            } => {
                if let Err(e) = ack.await {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
                        stream_missing.store(true, Ordering::Relaxed);
                    }
                    tracing::warn!(%channel, "media packet was not stored by JetStream: {e}; sending it again");
                    if redeliver(&js, &resend, &channel, &stream_missing).await {
                        counters.redelivered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(%channel, "media packet lost: the bus did not take it for {REDELIVER_FOR:?}");
                    }
                }
                counters
                    .unacked_bytes
                    .fetch_sub(resend.payload.len() as u64, Ordering::Relaxed);
            }
            AckItem::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Sends `resend` again until JetStream acknowledges it (true) or
/// [`REDELIVER_FOR`] has passed (false). Recreates the in-memory stream
/// when a restarted server lost it.
async fn redeliver(
    js: &jetstream::Context,
    resend: &Resend,
    channel: &ChannelName,
    stream_missing: &AtomicBool,
) -> bool {
    let deadline = tokio::time::Instant::now() + REDELIVER_FOR;
    let mut pause = Duration::from_millis(100);
    while tokio::time::Instant::now() < deadline {
        if stream_missing.swap(false, Ordering::Relaxed)
            && ensure_media_stream(js, &MediaStreamConfig::default())
                .await
                .is_err()
        {
            stream_missing.store(true, Ordering::Relaxed);
        }
        let sent = js
            .publish_with_headers(
                resend.subject.clone(),
                resend.headers.clone(),
                resend.payload.clone(),
            )
            .await;
        match sent {
            Ok(ack) => match ack.await {
                Ok(_) => return true,
                Err(e) => {
                    if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound {
                        stream_missing.store(true, Ordering::Relaxed);
                    }
                    tracing::debug!(%channel, "media packet still not stored: {e}");
                }
            },
            Err(e) => tracing::debug!(%channel, "media packet cannot be sent yet: {e}"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
    false
}

/// Where a [`MediaSubscription`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStart {
    /// At the most recent video keyframe still in the stream, preceded by the
    /// channel's current video and audio configs. With no keyframe in the
    /// stream, at the oldest packet of the channel (which, for a channel that
    /// is not publishing yet, means the first new one).
    LatestKeyframe,
    /// Only packets published from now on.
    New,
    /// At this stream sequence (as returned by [`MediaSubscription::next`]).
    Sequence(u64),
    /// Right after `sequence` of the stream created at `stream_created`
    /// ([`MediaSubscription::stream_created`]), so that nothing stored in the
    /// meantime is skipped (a bus that stalled and then delivered its
    /// backlog at once); at the latest keyframe when that stream is gone (a
    /// server restart lost it) or no longer holds the sequence.
    After { sequence: u64, stream_created: i128 },
}

/// The packets of one channel, in order, as a worker reads them.
pub struct MediaSubscription {
    channel: ChannelName,
    stream_created: i128,
    messages: consumer::push::Ordered,
    reassembler: Reassembler,
    last_config: [Option<(u32, Bytes)>; 2],
}

/// Subscribes to the media of `channel` from `start`, through an ordered
/// push consumer (server-side ephemeral, flow-controlled, recreated by the
/// client on gaps). Creates the media stream with default settings if it
/// does not exist yet.
pub async fn subscribe_media(
    js: &jetstream::Context,
    channel: &ChannelName,
    start: MediaStart,
) -> Result<MediaSubscription, BusError> {
    let mut stream = match js.get_stream(MEDIA_STREAM).await {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(_)
            ) =>
        {
            // Not there (a fresh bus, or a restarted single server): make it.
            ensure_media_stream(js, &MediaStreamConfig::default()).await?;
            js.get_stream(MEDIA_STREAM).await.map_err(|e| {
                BusError::nats(
                    format!("cannot open the JetStream stream {MEDIA_STREAM}"),
                    e,
                )
            })?
        }
        Err(e) => {
            return Err(BusError::nats(
                format!("cannot open the JetStream stream {MEDIA_STREAM}"),
                e,
            ))
        }
    };
    let info = stream.info().await.map_err(|e| {
        BusError::nats(
            format!("cannot read the JetStream stream {MEDIA_STREAM}"),
            e,
        )
    })?;
    let created = info.created.unix_timestamp_nanos();
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let start = match start {
        MediaStart::After {
            sequence,
            stream_created,
        } if stream_created == created && sequence + 1 >= first && sequence <= last => {
            MediaStart::Sequence(sequence + 1)
        }
        MediaStart::After { sequence, .. } => {
            tracing::info!(%channel, sequence, first, last, "the media stream no longer holds where this worker was; starting at the latest keyframe");
            MediaStart::LatestKeyframe
        }
        other => other,
    };
    let deliver_policy = match start {
        MediaStart::New => consumer::DeliverPolicy::New,
        MediaStart::Sequence(seq) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: seq.max(1),
        },
        MediaStart::After { .. } => unreachable!("resolved above"),
        MediaStart::LatestKeyframe => match stream
            .get_last_raw_message_by_subject(&key_subject(channel))
            .await
        {
            Ok(msg) => consumer::DeliverPolicy::ByStartSequence {
                start_sequence: msg.sequence,
            },
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                consumer::DeliverPolicy::All
            }
            Err(e) => {
                return Err(BusError::nats(
                    format!("cannot find the latest keyframe of channel {channel}"),
                    e,
                ));
            }
        },
    };
    tracing::debug!(%channel, ?deliver_policy, "subscribing to media");
    let what = || format!("cannot subscribe to the media of channel {channel}");
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            filter_subject: channel_subjects(channel),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::nats(what(), e))?;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| BusError::nats(what(), e))?;
    Ok(MediaSubscription {
        channel: channel.clone(),
        stream_created: created,
        messages,
        reassembler: Reassembler::new(channel.as_str()),
        last_config: [None, None],
    })
}

impl MediaSubscription {
    /// The channel this subscription reads.
    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// When the stream it reads was created (Unix nanoseconds): a stream
    /// made again after a server restart has another, and its sequences
    /// start over.
    pub fn stream_created(&self) -> i128 {
        self.stream_created
    }

    /// The next packet with its stream sequence (of its first fragment).
    ///
    /// Messages that cannot be read (bad fragments, undecodable packets) are
    /// skipped with a warning naming the channel and sequence. An `Err` is a
    /// transport problem; the subscription stays usable and the caller may
    /// call `next` again. `None` means the subscription ended.
    pub async fn next(&mut self) -> Option<Result<(u64, MediaPacket), BusError>> {
        loop {
            let msg = match self.messages.next().await? {
                Ok(msg) => msg,
                Err(e) => {
                    return Some(Err(BusError::nats(
                        format!("media subscription of channel {}", self.channel),
                        e,
                    )));
                }
            };
            let seq = match msg.info() {
                Ok(info) => info.stream_sequence,
                Err(e) => {
                    tracing::warn!(channel = %self.channel, "skipping media message without stream info: {e}");
                    continue;
                }
            };
            let header = |name: &str| {
                msg.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str())
            };
            let part = match Part::parse(header(FRAG_HEADER), header(FRAG_ID_HEADER)) {
                Ok(part) => part,
                Err(e) => {
                    tracing::warn!(channel = %self.channel, seq, "skipping media message: {e}");
                    continue;
                }
            };
            let (seq, bytes) = match self.reassembler.push(seq, part, msg.payload.clone()) {
                Ok(Some(whole)) => whole,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(channel = %self.channel, seq, "skipping media fragment: {e}");
                    continue;
                }
            };
            let packet = match MediaPacket::decode(bytes) {
                Ok(packet) => packet,
                Err(e) => {
                    tracing::warn!(channel = %self.channel, seq, "skipping undecodable media packet: {e}");
                    continue;
                }
            };
            if packet.kind == PacketKind::Config {
                let slot = &mut self.last_config[usize::from(packet.track == Track::Audio)];
                let current = (packet.session, packet.data.clone());
                if slot.as_ref() == Some(&current) {
                    continue;
                }
                *slot = Some(current);
            }
            return Some(Ok((seq, packet)));
        }
    }
}
