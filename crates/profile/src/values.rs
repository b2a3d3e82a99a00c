//! The values a profile's keys take besides numbers: the encoder and decoder
//! choice, the preset, the frame rate, the video codec and H.264 profile.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which encoder runs the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EncoderChoice {
    /// NVENC on a GPU node, libx264 on a CPU-only node. Note that a CPU-only
    /// node cannot encode HEVC, which is why HEVC needs `allow_cpu: false`.
    #[default]
    Auto,
    /// NVENC only: needs a GPU node (so `allow_cpu` must be false).
    Nvenc,
    /// libx264 only, on any node. H.264 only.
    X264,
}

impl EncoderChoice {
    /// The word used in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            EncoderChoice::Auto => "auto",
            EncoderChoice::Nvenc => "nvenc",
            EncoderChoice::X264 => "x264",
        }
    }
}

/// Where the source is decoded (and the renditions scaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DecoderChoice {
    /// NVDEC with `scale_cuda` where the GPU takes the source's codec and
    /// profile, the CPU otherwise.
    #[default]
    Auto,
    /// NVDEC and `scale_cuda` only: a channel whose GPU cannot open them
    /// is refused at start with the reason.
    Nvdec,
    /// FFmpeg's software decoder and swscale, on any node.
    Cpu,
}

impl DecoderChoice {
    /// The word used in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            DecoderChoice::Auto => "auto",
            DecoderChoice::Nvdec => "nvdec",
            DecoderChoice::Cpu => "cpu",
        }
    }
}

/// Encoder speed/quality trade-off on NVENC's scale: 1 is fastest, 7 best.
/// Written `p1`..`p7`, or with the x264 name that maps onto the same step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Preset(u8);

/// x264 preset names, slowest last, index + 1 = level.
const X264_PRESETS: [&str; 7] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
];
const NVENC_PRESETS: [&str; 7] = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"];

impl Preset {
    /// The fastest preset (p1 / ultrafast).
    pub const FASTEST: Preset = Preset(1);

    /// The preset at `level` 1..=7.
    pub fn new(level: u8) -> Option<Preset> {
        (1..=7).contains(&level).then_some(Preset(level))
    }

    /// Reads `p1`..`p7` or an x264 name from `ultrafast` to `slow`.
    pub fn parse(text: &str) -> Option<Preset> {
        let at = |names: &[&str; 7]| names.iter().position(|n| *n == text);
        at(&NVENC_PRESETS)
            .or_else(|| at(&X264_PRESETS))
            .and_then(|i| Preset::new(i as u8 + 1))
    }

    /// 1 (fastest) ..= 7 (best).
    pub fn level(&self) -> u8 {
        self.0
    }

    /// NVENC preset name, `p1`..`p7`.
    pub fn nvenc(&self) -> &'static str {
        NVENC_PRESETS[usize::from(self.0.clamp(1, 7) - 1)]
    }

    /// libx264 preset name: p1 ultrafast, p2 superfast, p3 veryfast, p4 faster,
    /// p5 fast, p6 medium, p7 slow.
    pub fn x264(&self) -> &'static str {
        X264_PRESETS[usize::from(self.0.clamp(1, 7) - 1)]
    }
}

impl Default for Preset {
    fn default() -> Self {
        Preset(4)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.nvenc())
    }
}

impl TryFrom<String> for Preset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Preset::parse(&s)
            .ok_or_else(|| format!("unknown preset {s:?}; use p1..p7 or ultrafast..slow"))
    }
}

impl From<Preset> for String {
    fn from(p: Preset) -> String {
        p.nvenc().to_owned()
    }
}

/// Output frame rate of a video rendition.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FrameRate {
    /// Keep the source's frame rate. Written `source`.
    #[default]
    Source,
    /// At most this many frames per second; a lower rate than the source drops
    /// frames, a higher one is capped at the source rate.
    Fixed(f64),
}

impl FrameRate {
    /// Frames per second this rendition has for a source of `source_fps`.
    pub fn effective(&self, source_fps: f64) -> f64 {
        match *self {
            FrameRate::Source => source_fps,
            FrameRate::Fixed(f) => f.min(source_fps),
        }
    }
}

impl Serialize for FrameRate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FrameRate::Source => s.serialize_str("source"),
            FrameRate::Fixed(f) => s.serialize_f64(*f),
        }
    }
}

impl<'de> Deserialize<'de> for FrameRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Word(String),
        }
        match Written::deserialize(d)? {
            Written::Number(f) => Ok(FrameRate::Fixed(f)),
            Written::Word(w) if w == "source" => Ok(FrameRate::Source),
            Written::Word(w) => Err(serde::de::Error::custom(format!(
                "frame rate {w:?} is neither `source` nor a number"
            ))),
        }
    }
}

/// Video codec of a rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 / AVC: plays everywhere.
    #[default]
    H264,
    /// HEVC / H.265: NVENC only.
    Hevc,
}

impl VideoCodec {
    /// The word used in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
        }
    }
}

/// H.264 profile. Baseline has no B-frames: the worker encodes it without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum H264Profile {
    /// For very old devices; no B-frames, no CABAC.
    Baseline,
    /// Main profile.
    Main,
    /// High profile: the default, supported by every current player.
    #[default]
    High,
}

impl H264Profile {
    /// The word used in YAML (and by both encoders).
    pub fn as_str(&self) -> &'static str {
        match self {
            H264Profile::Baseline => "baseline",
            H264Profile::Main => "main",
            H264Profile::High => "high",
        }
    }
}
