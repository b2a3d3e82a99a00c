//! The livefleet worker: the heart of the transcoding path.
//!
//! ```text
//! source (file demuxer | media packets from NATS)
//!   -> decode once (video and audio)            [decode thread]
//!   -> per video rendition: scale -> encode     [one thread per rendition]
//!   -> passthrough rendition: copy              [same decode thread]
//!   -> audio: resample -> AAC encode | copy     [audio thread]
//!   -> CMAF packager (livefleet-packager)       [packager thread]
//!   -> OutputSink (storage)
//! ```
//!
//! Decoding, scaling and encoding are blocking work and run on dedicated
//! threads joined by bounded queues, never on an async runtime. The decode
//! thread decides segment boundaries once, from the source timeline, and every
//! rendition forces an IDR at exactly those frames, so segments align across
//! the ladder.
//!
//! Encoders: libx264 on the CPU, or NVENC (`h264_nvenc` / `hevc_nvenc`)
//! through FFmpeg. [`encoder::select`] probes for a usable NVIDIA GPU at
//! start-up: `encoder: auto` falls back to libx264 with one log line naming the
//! reason, `encoder: nvenc` refuses to start with that reason.

pub mod audio;
pub mod calibrate;
pub mod encoder;
pub mod error;
pub mod fleet;
pub mod ladder;
pub mod live;
pub mod nvml;
pub mod pipeline;
pub mod service;
pub mod source;
pub mod transcode;

pub use error::PipelineError;
pub use pipeline::{Broadcast, BroadcastConfig, OutputSink, Progress};
