//! The media of an accepted publish: FLV tags to media packets on the
//! publish's timeline, and the end of a publish that sends audio alone.

use bytes::Bytes;
use livefleet_base::{MediaPacket, Track};
use livefleet_flv::{MediaTimeline, TagReader};

use super::ProtocolError;

/// Audio this long without any video ends a publish: the ladder is made
/// from video, so an audio-only publish would be accepted and never seen.
const AUDIO_ONLY_LIMIT_MS: i64 = 10_000;

/// What an accepted publish keeps between its messages.
pub(super) struct Publish {
    pub(super) reader: TagReader,
    timeline: MediaTimeline,
    /// Whether any video (a configuration or a frame) came.
    video_seen: bool,
    /// The first audio timestamp, while no video has come.
    audio_since_ms: Option<i64>,
    /// Audio that has come since, while no video has.
    audio_alone_ms: i64,
}

impl Publish {
    /// A publish whose packets are stamped with `session`.
    pub(super) fn new(session: u32) -> Self {
        Self {
            reader: TagReader::new(session),
            timeline: MediaTimeline::default(),
            video_seen: false,
            audio_since_ms: None,
            audio_alone_ms: 0,
        }
    }

    /// A video message stamped `timestamp` (RTMP's 32-bit milliseconds).
    pub(super) fn video(
        &mut self,
        data: Bytes,
        timestamp: u32,
    ) -> Result<Option<MediaPacket>, ProtocolError> {
        self.video_seen = true;
        let dts = if TagReader::is_sequence_header(Track::Video, &data) {
            self.timeline.peek(Track::Video, timestamp)
        } else {
            self.timeline.place(Track::Video, timestamp)?
        };
        self.reader.video(dts, data).map_err(ProtocolError::Video)
    }

    /// An audio message stamped `timestamp`.
    pub(super) fn audio(
        &mut self,
        data: Bytes,
        timestamp: u32,
    ) -> Result<Vec<MediaPacket>, ProtocolError> {
        let header = TagReader::is_sequence_header(Track::Audio, &data);
        let dts = if header {
            self.timeline.peek(Track::Audio, timestamp)
        } else {
            self.timeline.place(Track::Audio, timestamp)?
        };
        let packets = self.reader.audio(dts, data).map_err(ProtocolError::Audio)?;
        // Measured between audio frames: a header's stamp may be 0 before
        // frames stamped days in.
        if !self.video_seen && !header {
            let since = *self.audio_since_ms.get_or_insert(dts);
            self.audio_alone_ms = dts - since;
        }
        Ok(packets)
    }

    /// Fails once [`AUDIO_ONLY_LIMIT_MS`] of audio came without any video
    /// (after the packets that reached it went out).
    pub(super) fn video_came(&self) -> Result<(), ProtocolError> {
        if !self.video_seen && self.audio_alone_ms >= AUDIO_ONLY_LIMIT_MS {
            return Err(ProtocolError::NoVideo {
                audio_ms: self.audio_alone_ms,
            });
        }
        Ok(())
    }
}
