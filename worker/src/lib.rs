//! The livefleet worker: the heart of the transcoding path.
//!
//! ```text
//! source (file demuxer | media packets from NATS: feed, forward)
//!   -> decode once + one boundary clock        [session thread: session, decode, boundary]
//!   -> per video rendition: scale -> encode     [one thread each: rendition]
//!   -> passthrough rendition: copy              [session thread: passthrough]
//!   -> audio: resample -> AAC encode | copy     [audio thread: audio, aac, resample]
//!   -> CMAF packager (livefleet-packager)       [packager thread: pack]
//!   -> OutputSink (storage)                     [sink]
//!   -> at the end: VOD copy under vod/          [archive task]
//! ```
//!
//! A [`Broadcast`] holds a channel's package stage across its publish
//! sessions; [`session`] runs one session through the stages, whose threads
//! [`stages`] starts and joins. Decoding, scaling and encoding are blocking
//! work and run on dedicated threads joined by bounded queues, never on an
//! async runtime. The session thread decides segment boundaries once, from
//! the source timeline ([`timeline`]), and every rendition forces an IDR at
//! exactly those frames, so segments align across the ladder.
//!
//! Nodes: [`service`] (every channel of the registry) and [`fleet`] (the
//! channels the scheduler assigns) run channels the same way ([`node`],
//! [`channel`]). `transcode` runs one file.
//!
//! Encoders: libx264 on the CPU, or NVENC (`h264_nvenc` / `hevc_nvenc`)
//! through FFmpeg. [`encoder::select`] probes for a usable NVIDIA GPU at
//! start-up: `encoder: auto` falls back to libx264 with one log line naming the
//! reason, `encoder: nvenc` refuses to start with that reason.
//!
//! Video paths ([`video_path`]): with the profile's `decoder` key, each
//! session runs `zero_copy` (NVDEC -> `scale_cuda` -> NVENC), `upload` (CPU
//! decode -> NVENC), `hybrid` (NVDEC -> `scale_cuda` -> libx264) or `cpu`.
//! A GPU piece that fails mid-broadcast moves the channel to the next path
//! after one discontinuity ([`broadcast`]). The FFmpeg hardware calls live
//! in [`hw`].

mod aac;
pub mod archive;
pub mod audio;
pub mod boundary;
pub mod broadcast;
mod cadence;
pub mod calibrate;
mod captions;
pub mod channel;
pub mod codec_params;
pub mod colour;
mod cut_short;
pub mod decode;
pub mod encoder;
pub mod error;
pub mod events;
mod failover_state;
mod failpoint;
#[cfg(test)]
mod fallback_tests;
pub mod feed;
#[cfg(test)]
mod feed_tests;
pub mod ffmpeg_log;
mod filter_chain;
pub mod fleet;
pub mod forward;
pub mod gpu_check;
mod hdr;
mod hold;
pub mod hw;
mod joins;
mod jpeg;
mod kept_state;
pub mod ladder;
mod live_codec;
pub mod metrics;
pub mod node;
mod numbering_floor;
pub mod nvml;
pub(crate) mod pack;
pub mod passthrough;
mod picture;
mod prime;
pub mod progress;
pub mod rendition;
mod resample;
mod scale;
pub mod service;
pub(crate) mod session;
pub mod sink;
pub mod source;
#[cfg(test)]
mod stage_tests;
pub(crate) mod stages;
mod status;
pub mod storyboard;
pub mod threads;
mod thumbnail;
pub mod timeline;
pub mod transcode;
pub mod upright;
pub mod video_path;
mod zimg;

pub use broadcast::{Broadcast, BroadcastConfig, Progress};
pub use error::PipelineError;
pub use sink::{FenceReason, OutputSink, SinkError};
