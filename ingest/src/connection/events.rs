//! What a connection tells its owner: settings in, events and errors out.

use bytes::Bytes;
use livefleet_base::MediaPacket;
use livefleet_flv::{FlvError, TimestampJump};
use rml_rtmp::handshake::HandshakeError;
use rml_rtmp::sessions::StreamMetadata;

use super::chunk_guard::MAX_WINDOW_ACK_SIZE;

/// Largest chunk size the RTMP chunk format can express for a single message
/// (message lengths are 24 bits); larger values are meaningless.
pub const MAX_USEFUL_CHUNK_SIZE: u32 = 0xff_ffff;

/// What one connection accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// The RTMP application publishers must connect to (`rtmp://host/<app>/<key>`).
    pub app: String,
    /// Largest Set Chunk Size accepted from the publisher.
    pub max_chunk_size: u32,
}

/// A publish the client asked for, waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    /// rml_rtmp's id of the outstanding request.
    pub request_id: u32,
    /// The stream name the client publishes to: the stream key.
    pub stream_key: String,
}

/// What the publisher says about its stream in `onMetaData`; informational only.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f32>,
    pub video_kbps: Option<u32>,
    pub audio_kbps: Option<u32>,
    pub encoder: Option<String>,
}

impl From<StreamMetadata> for StreamInfo {
    fn from(m: StreamMetadata) -> Self {
        Self {
            width: m.video_width,
            height: m.video_height,
            frame_rate: m.video_frame_rate,
            video_kbps: m.video_bitrate_kbps,
            audio_kbps: m.audio_bitrate_kbps,
            encoder: m.encoder,
        }
    }
}

/// Something the owner of the connection must act on, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    /// Bytes to write to the peer, in order, before anything else.
    Send(Bytes),
    /// The client asks to publish; answer with `accept_publish` or `refuse_publish`.
    PublishRequested(PublishRequest),
    /// A packet of the accepted publish.
    Media(MediaPacket),
    /// The publisher sent `onMetaData`.
    Metadata(StreamInfo),
    /// The publisher ended its publish (`deleteStream` / `closeStream`).
    PublishFinished,
    /// The client asked for something this server refuses (wrong application,
    /// playback, a second publish); the error status is in the preceding
    /// `Send`. The connection is finished.
    Refused { reason: String },
}

/// Why a connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("RTMP handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("RTMP chunk stream is invalid: {0}")]
    Chunk(String),
    #[error("publisher set a chunk size of {size}; accepted are 1 to {max}")]
    ChunkSize { size: u32, max: u32 },
    #[error("publisher set a window acknowledgement size of {0}; at most {MAX_WINDOW_ACK_SIZE} is accepted")]
    WindowAckSize(u32),
    #[error("the RTMP library panicked on this input ({0})")]
    Library(String),
    #[error("bad video: {0}")]
    Video(FlvError),
    #[error("bad audio: {0}")]
    Audio(FlvError),
    #[error("{0}")]
    Timestamp(#[from] TimestampJump),
    #[error("no video: {} s of audio without a video track; livefleet transcodes video, so publish with a video source (a still image will do)", audio_ms / 1000)]
    NoVideo { audio_ms: i64 },
    #[error("connection is already closed")]
    Closed,
}

impl ProtocolError {
    /// Whether a publish ended by this is sent an error status saying it
    /// (the socket then stays open a moment for it to be read): what the
    /// publisher's operator can fix in its settings. Anything else is a
    /// broken or hostile client, which gets the connection closed.
    pub fn told_the_publisher(&self) -> bool {
        matches!(self.kind(), "no_video" | "unsupported_codec")
    }

    /// A short label for metrics, from a fixed set.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Handshake(_) => "handshake",
            Self::Chunk(_) => "chunk",
            Self::ChunkSize { .. } => "chunk_size",
            Self::WindowAckSize(_) => "window_ack_size",
            Self::Library(_) => "library_panic",
            Self::Video(
                FlvError::EnhancedVideo { .. }
                | FlvError::EnhancedPacketType(_)
                | FlvError::UnsupportedVideo { .. },
            )
            | Self::Audio(FlvError::UnsupportedAudio { .. }) => "unsupported_codec",
            Self::Video(_) => "video",
            Self::Audio(_) => "audio",
            Self::Timestamp(_) => "timestamp",
            Self::NoVideo { .. } => "no_video",
            Self::Closed => "closed",
        }
    }
}
