//! Publishing media packets: grouped into messages (`grouping.rs`),
//! fragmented, acks awaited in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::HeaderMap;
use bytes::Bytes;
use livefleet_base::{ChannelName, MediaPacket, PacketKind};
use tokio::sync::{mpsc, oneshot};

use super::grouping::{ChannelGroup, Outgoing};
use super::{data_subject, ensure_media_stream, key_subject, MediaStreamConfig};
use crate::batch;
use crate::fragment::{self, Part, FRAG_HEADER, FRAG_ID_HEADER};
use crate::BusError;

/// Room left for headers and protocol overhead under the server's
/// `max_payload` when sizing fragments.
const HEADER_ROOM: usize = 1024;
/// `max_payload` assumed while the client has not heard from a server.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Publish acks awaited in the background before `publish` waits: at about
/// 32 messages per second of a 30 fps channel, the ingest holds half a
/// minute of one channel's media (less when many channels share it) while
/// the bus does not answer.
const ACKS_IN_FLIGHT: usize = 1024;
/// How long a packet JetStream did not acknowledge is sent again (with the
/// same message id, so a copy that was stored after all is dropped as a
/// duplicate) before it is given up. Below the stream's default max age.
const REDELIVER_FOR: Duration = Duration::from_secs(20);

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
/// acks fail with "no stream", and the next `publish` creates it again. A
/// stream without a leader fails the acks the same way; it is waited for
/// (20 s at most), not created.
pub struct MediaPublisher {
    js: jetstream::Context,
    config: MediaStreamConfig,
    stream_missing: Arc<AtomicBool>,
    channels: Mutex<HashMap<ChannelName, ChannelGroup>>,
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

    /// Publishes one packet on the channel's subjects, in a message with the
    /// packets around it (audio is held for the next video frame, at most
    /// 100 ms of media; see `grouping.rs`), split into fragments when the
    /// message is larger than the server's `max_payload`. Returns once the
    /// messages due are handed to the connection (not once they are stored).
    pub async fn publish(
        &self,
        channel: &ChannelName,
        packet: &MediaPacket,
    ) -> Result<(), BusError> {
        if self.stream_missing.swap(false, Ordering::Relaxed) {
            if let Err(e) = look_for_stream(&self.js, &self.config).await {
                self.stream_missing.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        let encoded = packet.encode();
        let outgoing = {
            let mut channels = self
                .channels
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let group = channels.entry(channel.clone()).or_default();
            let outgoing = group.push(packet, encoded);
            if packet.kind == PacketKind::End {
                channels.remove(channel);
            }
            outgoing
        };
        for message in outgoing {
            self.send(channel, message).await?;
        }
        Ok(())
    }

    /// Sends the packets held for the next message of every channel, then
    /// waits until every packet published so far is acknowledged (or failed).
    /// Call it while no other task publishes (the end of a run, tests): the
    /// held packets would race that task's next message.
    pub async fn flush(&self) {
        let held: Vec<(ChannelName, Outgoing)> = {
            let mut channels = self
                .channels
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            channels
                .iter_mut()
                .filter_map(|(channel, group)| Some((channel.clone(), group.take_held()?)))
                .collect()
        };
        for (channel, message) in held {
            if let Err(e) = self.send(&channel, message).await {
                tracing::warn!(%channel, "cannot send the held media packets: {e}");
            }
        }
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

    async fn send(&self, channel: &ChannelName, outgoing: Outgoing) -> Result<(), BusError> {
        let random_access = outgoing.random_access;
        let message = batch::pack(&outgoing.packets);
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

/// Makes sure the media stream is there after a publish found no stream
/// to answer it: a restarted server that kept it in memory lost it (it is
/// created again), or the stream had no leader for a while (it is left as
/// it is). Only a stream that was made again is told at `info`.
async fn look_for_stream(
    js: &jetstream::Context,
    config: &MediaStreamConfig,
) -> Result<(), BusError> {
    match ensure_media_stream(js, config).await? {
        crate::Ensured::Created => {
            tracing::info!("the media stream was gone from the bus (a NATS server restarted?); created it again");
        }
        crate::Ensured::Found => {
            tracing::debug!("the media stream did not answer a publish for a while (a leader being elected?); it is there");
        }
    }
    Ok(())
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
            && look_for_stream(js, &MediaStreamConfig::default())
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
