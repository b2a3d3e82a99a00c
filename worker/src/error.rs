//! Errors of the transcoding pipeline, with the context an operator needs.

use livefleet_base::RenditionName;

/// Why a pipeline stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot open input {input}: {source}")]
    OpenInput {
        input: String,
        source: ffmpeg_next::Error,
    },
    #[error("input {input} is cut short: {reason}")]
    CutShort { input: String, reason: String },
    #[error("input {input} has no video stream")]
    NoVideoStream { input: String },
    #[error("input video codec {codec} is not supported (no decoder in this FFmpeg build)")]
    UnsupportedCodec { codec: String },
    #[error("input ended with a read error after {at_seconds:.3} s: {source}")]
    Read {
        at_seconds: f64,
        source: ffmpeg_next::Error,
    },
    #[error("input is truncated: media ends at {media_seconds:.2} s but the file declares {declared:.2} s; the output was left unfinished (no ENDLIST)")]
    Truncated { media_seconds: f64, declared: f64 },
    #[error("decoder for {what}: {source}")]
    Decoder {
        what: &'static str,
        source: ffmpeg_next::Error,
    },
    #[error("no decodable video frame in the input")]
    NoFrames,
    #[error("no rendition of the profile fits the source ({width}x{height}); every one would be an upscale and allow_upscale is false")]
    NothingToEncode { width: u32, height: u32 },
    #[error(transparent)]
    Encoder(#[from] crate::encoder::EncoderError),
    #[error("rendition {rendition}: {message}")]
    Rendition {
        rendition: RenditionName,
        message: String,
    },
    #[error("packager: {0}")]
    Packager(#[from] livefleet_packager::PackagerError),
    #[error("storage: {0}")]
    Output(String),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error("the packager stopped")]
    PackagerGone,
    #[error("cannot start the {stage} thread: {source}")]
    Spawn {
        stage: &'static str,
        source: std::io::Error,
    },
    #[error("{piece} failed: {message}")]
    Gpu {
        piece: crate::video_path::GpuPiece,
        message: String,
    },
    #[error("{0}")]
    NoVideoPath(#[from] crate::video_path::NoPath),
    #[error("the {stage} thread panicked; the channel ends")]
    StagePanicked { stage: String },
}

impl PipelineError {
    /// Whether the channel was fenced: another worker holds it now.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Sink(crate::sink::SinkError::Fenced { .. }))
    }
}
