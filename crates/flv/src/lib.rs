//! FLV tag bodies in, [`MediaPacket`]s out.
//!
//! The RTMP ingest receives audio and video messages whose payloads are FLV
//! tag bodies (`AUDIODATA`, `VIDEODATA`). This crate turns them into the
//! typed packets that travel over NATS to a worker:
//!
//! ```text
//! RTMP message (timestamp u32, body) --MediaTimeline--> dts ms (i64)
//!                                    --TagReader------> MediaPacket (Config | Frame)
//! ```
//!
//! * Video: H.264 in legacy FLV framing (codec id 7). The sequence header is
//!   checked as an [`AvcConfig`] and forwarded as the configuration record;
//!   NAL units are checked against the record's length size and always leave
//!   with 4-byte length prefixes. HEVC and AV1 in Enhanced RTMP framing
//!   (`enhanced.rs`): an HEVC sequence start is checked as an [`HevcConfig`]
//!   and its pictures leave as H.264's do; AV1's `av1C` and temporal units
//!   pass through. Other Enhanced RTMP codecs (VP9), its v2 multitrack and
//!   the old Flash codecs are refused with a typed error.
//! * Audio: AAC (sound format 10): the `AudioSpecificConfig` is checked as an
//!   [`AacConfig`]; raw frames pass through. MP3, PCM, G.711, ADPCM,
//!   Nellymoser and Speex pass through too, each behind a configuration the
//!   reader makes from the tag's format byte; Enhanced RTMP audio is refused.
//! * [`MediaTimeline`] extends the 32-bit RTMP clock to 64 bits and refuses
//!   timestamps that jump.
//!
//! Everything here is sans-IO and never panics on input: bad bytes give an
//! [`FlvError`] that names what was wrong.
//!
//! [`MediaPacket`]: livefleet_base::MediaPacket

mod aac;
mod audio;
mod avc;
mod enhanced;
mod error;
mod hevc;
mod tag;
mod timeline;

pub use aac::{AacConfig, AacConfigError};
pub use avc::{AvcConfig, AvcConfigError};
pub use error::FlvError;
pub use hevc::{HevcConfig, HevcConfigError};
pub use tag::{TagReader, NAL_LENGTH_SIZE};
pub use timeline::{MediaTimeline, TimelineLimits, TimestampJump};
