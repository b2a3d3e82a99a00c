//! Errors of the transcoding pipeline, with the context an operator needs.

use ffmpeg_next as ff;
use livefleet_base::RenditionName;

use crate::hw::GpuError;
use crate::scale::CpuScaleError;

/// Why a pipeline stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot open input {input}: {source}")]
    OpenInput {
        input: String,
        source: ffmpeg_next::Error,
    },
    #[error("input {input} is cut short: {reason}")]
    CutShort {
        input: String,
        reason: crate::source::CutShort,
    },
    #[error("input {input} has no video stream{}", if *cover_only { " (only a still cover picture; livefleet transcodes video)" } else { "" })]
    NoVideoStream {
        input: String,
        /// It has an attached picture (an audio file's artwork).
        cover_only: bool,
    },
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
    #[error("the profile has no video rendition to encode from the {width}x{height} source")]
    NothingToEncode { width: u32, height: u32 },
    #[error(transparent)]
    Encoder(#[from] crate::encoder::EncoderError),
    #[error("rendition {rendition}: {source}")]
    Rendition {
        rendition: RenditionName,
        source: RenditionFault,
    },
    #[error("packager: {0}")]
    Packager(#[from] livefleet_packager::PackagerError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("worker id: {0}")]
    WorkerId(#[from] livefleet_fleet::FleetError),
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error("the packager stopped")]
    PackagerGone,
    #[error("cannot start the {stage} thread: {source}")]
    Spawn {
        stage: &'static str,
        source: std::io::Error,
    },
    #[error("{piece} failed: {source}")]
    Gpu {
        piece: crate::video_path::GpuPiece,
        source: GpuError,
    },
    #[error("{0}")]
    NoVideoPath(#[from] crate::video_path::NoPath),
    #[error("preparing the decoded picture (deinterlacing, turning): {0}")]
    Picture(crate::filter_chain::FilterError),
    #[error("the {stage} thread panicked; the broadcast ends")]
    StagePanicked { stage: String },
}

/// Why the output (the store, its metrics) could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot start the storage runtime: {0}")]
    Runtime(std::io::Error),
    #[error("storage: {what} {out}: {source}")]
    Store {
        what: &'static str,
        out: String,
        source: livefleet_storage::StorageError,
    },
    #[error("the output {out} is not empty (a previous output?); pass --force to replace it, or choose another --out")]
    NotEmpty { out: String },
    #[error("storage metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// What failed inside one rendition.
#[derive(Debug, thiserror::Error)]
pub enum RenditionFault {
    #[error(transparent)]
    Scale(#[from] CpuScaleError),
    #[error("encoder refused a frame at {pts}: {source}")]
    Frame { pts: i64, source: ff::Error },
    #[error("{what}: {source}")]
    Codec {
        what: &'static str,
        source: ff::Error,
    },
    #[error("passthrough needs an H.264, HEVC or AV1 source with its configuration: {0}")]
    Passthrough(livefleet_packager::PackagerError),
    #[error("passthrough copies H.264, HEVC or AV1; this source is {0}: encode this rendition instead (give it a width, height and bitrate)")]
    PassthroughCodec(String),
}

impl PipelineError {
    /// Whether the channel was fenced: another worker holds it now.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Sink(crate::sink::SinkError::Fenced { .. }))
    }

    /// NVDEC (or `scale_cuda`) failed: the channel goes on on the next path.
    pub(crate) fn nvdec_failed(source: crate::hw::GpuError) -> Self {
        Self::Gpu {
            piece: crate::video_path::GpuPiece::Decode,
            source,
        }
    }
}
