use crate::{AacConfigError, AvcConfigError};

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
    #[error("Enhanced RTMP {codec} (FourCC {fourcc:?}) is not supported yet; publish H.264")]
    EnhancedVideo { codec: &'static str, fourcc: String },
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
    #[error("H.264 picture arrived before the AVC sequence header")]
    FrameBeforeConfig,
    #[error(
        "H.264 picture has a NAL unit of {claimed} bytes at offset {offset}, \
         but only {available} remain"
    )]
    NalLength {
        offset: usize,
        claimed: usize,
        available: usize,
    },
}
