use crate::{AacConfigError, AvcConfigError, HevcConfigError};

/// Why an FLV tag body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("empty {0} tag")]
    Empty(&'static str),
    #[error("{what} is {have} bytes, shorter than its {need}-byte header")]
    Short {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error(
        "Enhanced RTMP {codec} (FourCC {fourcc:?}) is not supported; publish H.264, HEVC or AV1"
    )]
    EnhancedVideo { codec: &'static str, fourcc: String },
    #[error("Enhanced RTMP video packet type {0} is not supported (multitrack and ModEx are Enhanced RTMP v2); publish one video track")]
    EnhancedPacketType(u8),
    #[error("video codec {name} (FLV codec id {id}) is not supported; publish H.264")]
    UnsupportedVideo { id: u8, name: &'static str },
    #[error("audio format {name} (FLV sound format {id}) is not supported; publish AAC or MP3")]
    UnsupportedAudio { id: u8, name: &'static str },
    #[error("unknown AVC packet type {0}")]
    AvcPacketType(u8),
    #[error("unknown AAC packet type {0}")]
    AacPacketType(u8),
    #[error("invalid AVC sequence header: {0}")]
    AvcConfig(#[from] AvcConfigError),
    #[error("invalid AAC sequence header: {0}")]
    AacConfig(#[from] AacConfigError),
    #[error("invalid HEVC sequence start: {0}")]
    HevcConfig(#[from] HevcConfigError),
    #[error("invalid AV1 sequence start: {0}")]
    Av1Config(&'static str),
    #[error("{0} picture arrived before its sequence header")]
    FrameBeforeConfig(&'static str),
    #[error(
        "video picture has a NAL unit of {claimed} bytes at offset {offset}, \
         but only {available} remain"
    )]
    NalLength {
        offset: usize,
        claimed: usize,
        available: usize,
    },
}
