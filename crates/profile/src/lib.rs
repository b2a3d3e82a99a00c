//! Ladder profiles: the YAML a producer writes to say which renditions a
//! channel gets.
//!
//! A channel's publisher picks a profile (the shipped ones live in
//! `ladder-profiles/`, more can be uploaded through the admin API). The
//! scheduler reads it to cost the channel ([`LadderProfile::pixel_rate`],
//! [`LadderProfile::encoder_sessions`], [`LadderProfile::allow_cpu`]) and place
//! it on a node; the worker reads it to build its decode → scale → encode
//! graph and the packager's renditions. Nothing here does I/O except
//! [`LadderProfile::load`] and [`validate_files`], which read files.
//!
//! Reading a profile reports every problem at once, each naming the file, the
//! YAML path (`video[1].bitrate`) and the fix: the text is parsed into a
//! generic YAML tree, walked against the schema (unknown keys with a "did you
//! mean", wrong types, missing keys), and the result checked against the
//! rules an encoder and a player need (even dimensions, bitrates that fall
//! with resolution, whole GOPs per segment, codecs the chosen encoder can
//! produce, ...). `ladder-profiles/README.md` documents every key.
//!
//! ```
//! use livefleet_profile::LadderProfile;
//!
//! let yaml = "
//! name: tiny
//! video:
//!   - { name: 360p, width: 640, height: 360, bitrate: 730k }
//! audio:
//!   - { name: audio, bitrate: 96k }
//! ";
//! let profile = LadderProfile::from_yaml("<example>", yaml).unwrap();
//! assert_eq!(profile.gops_per_segment(), 2);
//! assert_eq!(profile.video[0].max_bitrate, 949_000);
//!
//! let broken = "name: tiny\nvideo:\n  - { name: 360p, width: 641, height: 360, bitrat: 730k }\n";
//! let errors = LadderProfile::from_yaml("tiny.yaml", broken).unwrap_err();
//! assert_eq!(errors.len(), 2); // odd width, misspelt bitrate
//! ```

mod check;
mod error;
mod values;
mod walk;
mod wire;

use std::io::Read;
use std::path::{Path, PathBuf};

use livefleet_base::RenditionName;
use serde::{Deserialize, Serialize};

pub use error::{ProfileError, ProfileErrors, MAX_REPORTED};
pub use values::{DecoderChoice, EncoderChoice, FrameRate, H264Profile, Preset, VideoCodec};

/// Profiles larger than this are refused before parsing: a real ladder is a
/// few hundred bytes, and a huge document only costs memory and time.
pub const MAX_PROFILE_BYTES: usize = 1024 * 1024;

/// Most `[` and `{` characters a profile may contain, anywhere in it. The YAML
/// scanner's cost grows with the square of flow nesting, so deeply nested
/// documents are refused before parsing; counting every bracket (even in
/// strings and comments) makes the bound hold whatever the document does,
/// and a real profile has a few dozen at most.
pub const MAX_FLOW_BRACKETS: usize = 128;

/// A checked ladder profile. Every value obtained from [`LadderProfile::from_yaml`],
/// [`LadderProfile::load`] or serde deserialisation has passed all the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "wire::ProfileWire", try_from = "wire::ProfileWire")]
pub struct LadderProfile {
    /// Identifier of the profile (`default-1080p`), URL-safe like a rendition name.
    pub name: String,
    /// Free text for people choosing a profile. Default: empty.
    pub description: String,
    /// Segment length in seconds, a whole number of GOPs, 1..=12. Default: 4.
    pub segment_duration: f64,
    /// Seconds between keyframes, 0.5..=10. Default: 2.
    pub gop: f64,
    /// Which encoder may run the ladder. Default: auto.
    pub encoder: EncoderChoice,
    /// Where the source is decoded and scaled. Default: auto.
    pub decoder: DecoderChoice,
    /// Speed/quality trade-off. Default: p4.
    pub preset: Preset,
    /// Keep renditions larger than the source (otherwise they are dropped). Default: false.
    pub allow_upscale: bool,
    /// May the scheduler place this ladder on a CPU-only (libx264) node.
    /// Default: true, unless `encoder: nvenc` or an HEVC rendition rules it out.
    pub allow_cpu: bool,
    /// Video renditions as written (at least one).
    pub video: Vec<VideoRendition>,
    /// Audio renditions as written (may be empty: no audio).
    pub audio: Vec<AudioRendition>,
    /// CEA-608 caption services the source carries in its video, listed in
    /// the manifests so players offer them (may be empty).
    pub captions: Vec<CaptionService>,
}

/// One video rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "wire::VideoWire", try_from = "wire::VideoWire")]
pub struct VideoRendition {
    /// Directory name of the rendition, e.g. `720p`.
    pub name: RenditionName,
    /// Copy the source video as it is; size, frame rate and codec fields do not apply.
    pub passthrough: bool,
    /// Output width in pixels, even, 16..=8192 (0 for passthrough).
    pub width: u32,
    /// Output height in pixels, even, 16..=8192 (0 for passthrough).
    pub height: u32,
    /// Target average bitrate in bits/s (for passthrough: as given, or 0 if not, used
    /// only to announce BANDWIDTH).
    pub bitrate: u64,
    /// Peak bitrate in bits/s (VBV maximum and HLS BANDWIDTH). Default: 1.3 × bitrate,
    /// rounded to the nearest 1000; for passthrough, the bitrate.
    pub max_bitrate: u64,
    /// Output frame rate. Default: source.
    pub frame_rate: FrameRate,
    /// Output codec. Default: h264.
    pub codec: VideoCodec,
    /// H.264 profile (ignored for HEVC). Default: high.
    pub h264_profile: H264Profile,
    /// Codec level such as `"4.1"`; `None` lets the encoder choose.
    pub level: Option<String>,
}

impl VideoRendition {
    /// Pixels per frame (0 for passthrough).
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// One audio rendition (AAC-LC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::AudioWire", try_from = "wire::AudioWire")]
pub struct AudioRendition {
    /// Directory name of the rendition, e.g. `audio`.
    pub name: RenditionName,
    /// Copy the source AAC when it already has these channels and sample rate;
    /// otherwise encode with the values below.
    pub passthrough: bool,
    /// Bits/s, 8k..=512k. Default: 128k.
    pub bitrate: u64,
    /// 1, 2 or 6. Default: 2.
    pub channels: u8,
    /// One of the AAC sample rates. Default: 48000.
    pub sample_rate: u32,
}

/// A CEA-608 caption service carried in the video (the source's SEI, kept in
/// every video rendition), as the manifests declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionService {
    /// `CC1` to `CC4`: the service's channel in the 608 stream.
    pub channel: String,
    /// BCP 47 language tag (`en`, `pt-BR`), when the producer gives one.
    pub language: Option<String>,
    /// What players show in their caption menu. Default: the language, else the channel.
    pub name: String,
}

impl LadderProfile {
    /// Reads and checks a profile. `file` is only used to label errors (a path
    /// or `<upload>`). Every problem found is returned at once.
    pub fn from_yaml(file: &str, text: &str) -> Result<LadderProfile, ProfileErrors> {
        if text.len() > MAX_PROFILE_BYTES {
            return Err(too_big(file, text.len() as u64));
        }
        let brackets = text.bytes().filter(|b| *b == b'[' || *b == b'{').count();
        if brackets > MAX_FLOW_BRACKETS {
            return Err(ProfileErrors::one(
                file,
                "(document)",
                format!("the profile has {brackets} `[` and `{{` characters, more than the {MAX_FLOW_BRACKETS} allowed"),
                "write renditions as `- key: value` blocks instead of deeply nested `[...]`/`{...}`",
            ));
        }
        let doc: serde_norway::Value = serde_norway::from_str(text).map_err(|e| {
            let path = match e.location() {
                Some(at) => format!("line {}, column {}", at.line(), at.column()),
                None => "(document)".to_owned(),
            };
            ProfileErrors::one(
                file,
                path,
                format!("not valid YAML: {e}"),
                "fix the YAML syntax (indentation with spaces, `key: value`, `- ` for list items)",
            )
        })?;
        let mut report = error::Report::new(file);
        let wire = walk::profile(&doc, &mut report);
        let profile = wire.and_then(|w| check::profile(w, &mut report));
        match profile {
            Some(p) if report.is_clean() => Ok(p),
            _ => Err(report.into_errors()),
        }
    }

    /// Reads and checks the profile in the file at `path`. A file that cannot
    /// be read becomes an error naming it.
    pub fn load(path: &Path) -> Result<LadderProfile, ProfileErrors> {
        let file = path.display().to_string();
        let io = |e: std::io::Error| {
            ProfileErrors::one(
                &file,
                "(file)",
                format!("cannot read the profile: {e}"),
                "check the path and its permissions",
            )
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        f.take(MAX_PROFILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() > MAX_PROFILE_BYTES {
            let size = std::fs::metadata(path)
                .map(|m| m.len())
                .unwrap_or(bytes.len() as u64);
            return Err(too_big(&file, size));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            ProfileErrors::one(
                &file,
                "(file)",
                format!(
                    "the file is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
                "save the profile as UTF-8",
            )
        })?;
        LadderProfile::from_yaml(&file, &text)
    }

    /// Writes the profile back as YAML that [`LadderProfile::from_yaml`] reads
    /// to an equal profile. Every default is written out.
    pub fn to_yaml(&self) -> Result<String, ProfileErrors> {
        serde_norway::to_string(self).map_err(|e| {
            ProfileErrors::one(
                &self.name,
                "(document)",
                format!("cannot write the profile as YAML: {e}"),
                "report this as a bug",
            )
        })
    }

    /// Keyframe intervals per segment (segment_duration / gop).
    pub fn gops_per_segment(&self) -> u32 {
        let n = (self.segment_duration / self.gop).round();
        if n.is_finite() && n >= 1.0 {
            n.min(f64::from(u32::MAX)) as u32
        } else {
            1
        }
    }

    /// Encoded pixels per second summed over the non-passthrough video
    /// renditions, for a source of `source_fps` (the scheduler's cost model).
    /// A rendition's fixed frame rate counts only up to the source's.
    pub fn pixel_rate(&self, source_fps: f64) -> f64 {
        self.encoded_video()
            .map(|v| v.pixels() as f64 * v.frame_rate.effective(source_fps))
            .sum()
    }

    /// Encoder sessions (NVENC sessions on a GPU node) the ladder needs: one per
    /// non-passthrough video rendition.
    pub fn encoder_sessions(&self) -> u32 {
        self.encoded_video().count() as u32
    }

    /// The tallest encoded rendition's height (0 if the ladder only passes video through).
    pub fn max_height(&self) -> u32 {
        self.encoded_video().map(|v| v.height).max().unwrap_or(0)
    }

    /// True if any video rendition is HEVC.
    pub fn uses_hevc(&self) -> bool {
        self.encoded_video().any(|v| v.codec == VideoCodec::Hevc)
    }

    /// Video renditions to produce for a source of `width` × `height`:
    /// renditions larger than the source in either dimension are dropped
    /// unless `allow_upscale`; passthrough is always kept. If that would leave
    /// no video at all, the smallest encoded rendition is kept so that the
    /// channel still has a picture.
    pub fn video_for_source(&self, width: u32, height: u32) -> Vec<&VideoRendition> {
        let fits = |v: &VideoRendition| {
            v.passthrough || self.allow_upscale || (v.width <= width && v.height <= height)
        };
        let mut kept: Vec<&VideoRendition> = self.video.iter().filter(|v| fits(v)).collect();
        if kept.is_empty() {
            kept.extend(self.encoded_video().min_by_key(|v| v.pixels()));
        }
        kept
    }

    fn encoded_video(&self) -> impl Iterator<Item = &VideoRendition> {
        self.video.iter().filter(|v| !v.passthrough)
    }
}

fn too_big(file: &str, size: u64) -> ProfileErrors {
    ProfileErrors::one(
        file,
        "(document)",
        format!("the profile is {size} bytes, more than the {MAX_PROFILE_BYTES}-byte limit"),
        "a ladder profile is a few hundred bytes; check that this is the right file",
    )
}

/// Reads and checks each file, for `livefleet profile validate`: the caller
/// prints the errors and exits non-zero if any result is an error.
pub fn validate_files(paths: &[PathBuf]) -> Vec<(PathBuf, Result<LadderProfile, ProfileErrors>)> {
    paths
        .iter()
        .map(|p| (p.clone(), LadderProfile::load(p)))
        .collect()
}

/// The profile files (`*.yaml`, `*.yml`) directly in `dir`, sorted by name.
pub fn profile_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
