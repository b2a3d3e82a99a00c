//! Reading a channel's media packets, in order, from a stream position.

use std::collections::VecDeque;

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};

use super::{
    channel_subjects, data_subject, ensure_media_stream, key_subject, MediaStreamConfig,
    MEDIA_STREAM,
};
use crate::batch;
use crate::fragment::{Part, Reassembler, FRAG_HEADER, FRAG_ID_HEADER};
use crate::BusError;

/// Where a [`MediaSubscription`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStart {
    /// At the most recent video keyframe still in the stream, preceded by the
    /// channel's current video and audio configs. With no keyframe in the
    /// stream, at the oldest packet of the channel (which, for a channel that
    /// is not publishing yet, means the first new one). When the publish
    /// after that keyframe has ended, only new packets: a worker starting
    /// then (a restart, a late assignment) does not replay the tail of a
    /// broadcast that is over as a broadcast of its own.
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
    /// Packets of a message read and not yet returned, with its sequence.
    unread: VecDeque<(u64, Bytes)>,
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
    // Asked for: a publish that has ended has nothing to join.
    let join_live = start == MediaStart::LatestKeyframe;
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
            Ok(msg) if join_live && ended_after(&stream, channel, msg.sequence).await => {
                tracing::info!(%channel, "the channel's last publish has ended; waiting for a new one");
                consumer::DeliverPolicy::New
            }
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
        unread: VecDeque::new(),
    })
}

/// Whether the channel's last message after `keyframe` is the end of its
/// publish: then a worker starting now would only replay the tail of a
/// broadcast that is over, as a broadcast of its own. A lookup that fails
/// counts as "not ended" (the replay is the safe side: it loses nothing).
async fn ended_after(stream: &stream::Stream, channel: &ChannelName, keyframe: u64) -> bool {
    let Ok(last) = stream
        .get_last_raw_message_by_subject(&data_subject(channel))
        .await
    else {
        return false;
    };
    if last.sequence < keyframe {
        return false;
    }
    let whole = last.headers.get(FRAG_HEADER).is_none();
    whole
        && batch::unpack(last.payload.clone()).is_ok_and(|packets| {
            packets
                .last()
                .and_then(|p| MediaPacket::decode(p.clone()).ok())
                .is_some_and(|p| p.kind == PacketKind::End)
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

    /// The next packet with its stream sequence (of its message's first
    /// fragment; packets that travelled in one message share it, so
    /// [`MediaStart::After`] a packet's sequence resumes after its whole
    /// message).
    ///
    /// Messages that cannot be read (bad fragments, undecodable packets) are
    /// skipped with a warning naming the channel and sequence. An `Err` is a
    /// transport problem; the subscription stays usable and the caller may
    /// call `next` again. `None` means the subscription ended.
    pub async fn next(&mut self) -> Option<Result<(u64, MediaPacket), BusError>> {
        loop {
            let Some((seq, bytes)) = self.unread.pop_front() else {
                match self.read_message().await? {
                    Ok(()) => continue,
                    Err(e) => return Some(Err(e)),
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

    /// Reads the next whole message into `unread`. `None`: the subscription
    /// ended; `Some(Ok)` also when the message was skipped.
    async fn read_message(&mut self) -> Option<Result<(), BusError>> {
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
                return Some(Ok(()));
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
                return Some(Ok(()));
            }
        };
        let (seq, bytes) = match self.reassembler.push(seq, part, msg.payload.clone()) {
            Ok(Some(whole)) => whole,
            Ok(None) => return Some(Ok(())),
            Err(e) => {
                tracing::warn!(channel = %self.channel, seq, "skipping media fragment: {e}");
                return Some(Ok(()));
            }
        };
        match batch::unpack(bytes) {
            Ok(packets) => self.unread.extend(packets.into_iter().map(|p| (seq, p))),
            Err(e) => {
                tracing::warn!(channel = %self.channel, seq, "skipping media batch: {e}");
            }
        }
        Some(Ok(()))
    }
}
