//! The media stream: [`MediaPacket`](livefleet_base::MediaPacket)s from the ingest to the worker that
//! transcodes the channel, through the JetStream stream [`MEDIA_STREAM`]
//! (memory storage, short max age) so that a replacement worker can resume
//! from the last keyframe without the publisher reconnecting.
//!
//! Subjects, per channel:
//! - `media.<channel>.key`: the first message of every random access point,
//! - `media.<channel>.data`: every other message.
//!
//! Packets travel grouped, about one message per video frame: a video frame
//! goes with the audio packets held since the previous message
//! (`grouping.rs`, wire form in [`crate::batch`]). At each video keyframe
//! the publisher re-sends the channel's current video and audio `Config`
//! packets right in front of it, in one message on `.key`. A worker that
//! starts at [`MediaStart::LatestKeyframe`]
//! asks the stream for the last message on `.key` (one lookup) and consumes
//! from there: configs first, then the keyframe, then everything after it.
//! The subscription hides the repeated configs from a worker that reads
//! continuously (a `Config` identical to the last one delivered for its
//! track is skipped). See `docs/design/media-transport.md` for the choices.

mod grouping;
mod publisher;
mod subscription;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::BusError;

pub use publisher::MediaPublisher;
pub use subscription::{subscribe_media, MediaStart, MediaSubscription};

/// Name of the JetStream stream that carries media.
pub const MEDIA_STREAM: &str = "LIVEFLEET_MEDIA";

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

pub(crate) fn key_subject(channel: &ChannelName) -> String {
    format!("media.{channel}.key")
}

pub(crate) fn data_subject(channel: &ChannelName) -> String {
    format!("media.{channel}.data")
}

/// Creates the media stream if it does not exist yet (replicated as
/// [`crate::StreamKind::Media`]), or raises an existing one's replicas to the
/// configured number; its other settings are left as they are.
pub async fn ensure_media_stream(
    js: &jetstream::Context,
    config: &MediaStreamConfig,
) -> Result<crate::Ensured, BusError> {
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
