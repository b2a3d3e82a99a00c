//! Why a GPU piece is not there, or failed: the probes, the CUDA device,
//! NVDEC, `scale_cuda`, the download and NVENC. One type, so a reason goes
//! from the probe to the video path's choice and into the log as it was.

use ffmpeg_next as ff;
use livefleet_base::RenditionName;

use crate::filter_chain::FilterError;

/// Why a GPU piece cannot be used, in terms an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    #[error("no NVIDIA driver: {library} cannot be loaded ({detail}); in a container, run with the NVIDIA runtime (--gpus all, NVIDIA_DRIVER_CAPABILITIES including 'video')")]
    NoDriver {
        library: &'static str,
        detail: String,
    },
    #[error("this FFmpeg build has no {0} encoder")]
    NoEncoder(&'static str),
    #[error("FFmpeg's {codec} decoder cannot decode on NVDEC")]
    NoNvdec { codec: String },
    #[error("the CUDA device cannot be opened through FFmpeg: {source} (is this FFmpeg built with CUDA, and does nvidia-smi see a GPU?)")]
    NoDevice { source: ff::Error },
    #[error("no CUDA device for the zero-copy path")]
    NoDeviceForPath,
    #[error("opening an {encoder} session failed: {source} (data-centre GPUs such as A100, H100 and H200 have no NVENC engine)")]
    NvencSession {
        encoder: &'static str,
        source: ff::Error,
    },
    #[error("the {0} is not in GPU memory")]
    NotOnGpu(&'static str),
    #[error("out of memory for {0}")]
    OutOfMemory(&'static str),
    #[error("{what}: {source}")]
    Call { what: String, source: ff::Error },
    #[error("NVDEC refused {refused} packets in a row (last: {last})")]
    NvdecRefuses { refused: u32, last: ff::Error },
    #[error("NVDEC cannot decode this source: {0}")]
    NvdecOpen(ff::Error),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("cannot open {encoder} for {what}: {source}")]
    EncoderOpen {
        encoder: &'static str,
        what: String,
        source: ff::Error,
    },
    #[error("{0} cannot read frames in GPU memory")]
    NoGpuFrames(&'static str),
    #[error("rendition {rendition}: {source}")]
    Rendition {
        rendition: RenditionName,
        source: Box<GpuError>,
    },
    /// Not a failure: the configuration leaves the piece out.
    #[error("{0}")]
    NotChosen(&'static str),
    #[error("failed in this broadcast: {0}")]
    FailedInBroadcast(Box<GpuError>),
    #[error("the NVENC probe did not finish: {0}")]
    ProbeLost(String),
}

impl GpuError {
    /// The error with the rendition it happened in.
    pub fn in_rendition(self, rendition: &RenditionName) -> Self {
        GpuError::Rendition {
            rendition: rendition.clone(),
            source: Box::new(self),
        }
    }
}
