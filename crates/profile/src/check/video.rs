//! The rules of one video rendition: sizes, bitrates, codec, profile and level.

use super::*;
use crate::error::Report;
use crate::wire::VideoWire;
use crate::{FrameRate, H264Profile, VideoCodec, VideoRendition};

/// H.264 levels and their maximum frame size in macroblocks (Table A-1).
const H264_LEVELS: [(&str, u64); 20] = [
    ("1", 99),
    ("1b", 99),
    ("1.1", 396),
    ("1.2", 396),
    ("1.3", 396),
    ("2", 396),
    ("2.1", 792),
    ("2.2", 1620),
    ("3", 1620),
    ("3.1", 3600),
    ("3.2", 5120),
    ("4", 8192),
    ("4.1", 8192),
    ("4.2", 8704),
    ("5", 22080),
    ("5.1", 36864),
    ("5.2", 36864),
    ("6", 139264),
    ("6.1", 139264),
    ("6.2", 139264),
];

/// HEVC levels and their maximum luma picture size in samples (Table A.8).
const HEVC_LEVELS: [(&str, u64); 13] = [
    ("1", 36864),
    ("2", 122880),
    ("2.1", 245760),
    ("3", 552960),
    ("3.1", 983040),
    ("4", 2228224),
    ("4.1", 2228224),
    ("5", 8912896),
    ("5.1", 8912896),
    ("5.2", 8912896),
    ("6", 35651584),
    ("6.1", 35651584),
    ("6.2", 35651584),
];

/// Keys that describe an encode, and so conflict with `passthrough: true`.
fn encode_only_keys(v: &VideoWire) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if v.width.is_some() {
        keys.push("width");
    }
    if v.height.is_some() {
        keys.push("height");
    }
    if v.frame_rate.is_some() {
        keys.push("frame_rate");
    }
    if v.codec.is_some() {
        keys.push("codec");
    }
    if v.h264_profile.is_some() {
        keys.push("h264_profile");
    }
    if v.level.is_some() {
        keys.push("level");
    }
    keys
}

/// Checks one video rendition at `at` (`video[2]`).
pub(crate) fn video(w: VideoWire, at: &str, report: &mut Report) -> Option<VideoRendition> {
    let p = |key: &str| format!("{at}.{key}");
    let rendition_name = name(report, &p("name"), w.name.as_deref(), "720p");
    let passthrough = w.passthrough.unwrap_or(false);

    if passthrough {
        for key in encode_only_keys(&w) {
            report.push(
                p(key),
                format!("`{key}` does not apply to a passthrough rendition, which copies the source video unchanged"),
                format!("remove `{key}`, or remove `passthrough: true` to encode this rendition"),
            );
        }
        let bitrate = match w.bitrate {
            None => Some(0),
            Some(b) => bitrate_in_range(report, &p("bitrate"), "bitrate", b, VIDEO_BITRATE_RANGE),
        };
        let max_bitrate = match (w.max_bitrate, bitrate) {
            (None, b) => b,
            (Some(m), b) => max_bitrate(report, &p("max_bitrate"), m, b.filter(|b| *b > 0)),
        };
        return Some(VideoRendition {
            name: rendition_name?,
            passthrough: true,
            width: 0,
            height: 0,
            bitrate: bitrate?,
            max_bitrate: max_bitrate?,
            frame_rate: FrameRate::Source,
            codec: VideoCodec::H264,
            h264_profile: H264Profile::High,
            level: None,
        });
    }

    let width = dimension(report, &p("width"), "width", w.width, "width: 1280");
    let height = dimension(report, &p("height"), "height", w.height, "height: 720");
    let bitrate = match w.bitrate {
        None => {
            missing(report, &p("bitrate"), "bitrate", "bitrate: 3000k");
            None
        }
        Some(b) => bitrate_in_range(report, &p("bitrate"), "bitrate", b, VIDEO_BITRATE_RANGE),
    };
    let max = match w.max_bitrate {
        Some(m) => max_bitrate(report, &p("max_bitrate"), m, bitrate),
        None => bitrate.map(default_max_bitrate),
    };
    let frame_rate = match w.frame_rate.unwrap_or(FrameRate::Source) {
        FrameRate::Source => Some(FrameRate::Source),
        FrameRate::Fixed(f) if f > 0.0 && f <= MAX_FRAME_RATE => Some(FrameRate::Fixed(f)),
        FrameRate::Fixed(f) => {
            report.push(
                p("frame_rate"),
                format!("frame_rate {f} is outside 0..=240 frames per second (0 excluded)"),
                "write `source`, or a rate like 30 or 29.97 no higher than the source's",
            );
            None
        }
    };
    let codec = match w.codec.as_deref() {
        None => Some(VideoCodec::H264),
        Some(text) => codec(report, &p("codec"), text),
    };
    let h264_profile = match (w.h264_profile.as_deref(), codec) {
        (None, _) => Some(H264Profile::High),
        (Some(_), Some(VideoCodec::Hevc)) => {
            report.push(
                p("h264_profile"),
                "`h264_profile` applies to H.264 only, and this rendition is `codec: hevc`",
                "remove `h264_profile` (HEVC renditions are encoded in the Main profile)",
            );
            Some(H264Profile::High)
        }
        (Some(text), _) => h264_profile(report, &p("h264_profile"), text),
    };
    let level = match (w.level.as_deref(), codec) {
        (None, _) => Some(None),
        (Some(text), Some(codec)) => {
            level(report, &p("level"), text, codec, width.zip(height)).map(Some)
        }
        (Some(_), None) => None,
    };

    Some(VideoRendition {
        name: rendition_name?,
        passthrough: false,
        width: width?,
        height: height?,
        bitrate: bitrate?,
        max_bitrate: max?,
        frame_rate: frame_rate?,
        codec: codec?,
        h264_profile: h264_profile?,
        level: level?,
    })
}

/// 1.3 × `bitrate`, rounded to the nearest 1000 bits/s.
pub(crate) fn default_max_bitrate(bitrate: u64) -> u64 {
    bitrate.saturating_mul(13).saturating_add(5000) / 10_000 * 1000
}

fn max_bitrate(report: &mut Report, path: &str, max: u64, bitrate: Option<u64>) -> Option<u64> {
    let (lo, hi) = VIDEO_BITRATE_RANGE;
    let max = bitrate_in_range(report, path, "max_bitrate", max, (lo, hi.saturating_mul(2)))?;
    match bitrate {
        Some(b) if max < b => {
            report.push(
                path,
                format!(
                    "max_bitrate {} is lower than bitrate {}",
                    rate(max),
                    rate(b)
                ),
                format!(
                    "raise max_bitrate to at least {} (1.3 × is usual: {}), or leave it out",
                    rate(b),
                    rate(default_max_bitrate(b))
                ),
            );
            None
        }
        _ => Some(max),
    }
}

fn dimension(
    report: &mut Report,
    path: &str,
    key: &str,
    value: Option<u64>,
    example: &str,
) -> Option<u32> {
    let (lo, hi) = DIMENSION_RANGE;
    match value {
        None => {
            missing(report, path, key, example);
            None
        }
        Some(0) => {
            report.push(
                path,
                format!("{key} is 0"),
                format!("set the output {key} in pixels, e.g. `{example}`"),
            );
            None
        }
        Some(v) if v < lo || v > hi => {
            report.push(
                path,
                format!("{key} {v} is outside {lo}..={hi} pixels"),
                format!("use a {key} from {lo} to {hi}"),
            );
            None
        }
        Some(v) if v % 2 == 1 => {
            report.push(
                path,
                format!("{key} {v} is odd; 4:2:0 video (H.264, HEVC) needs even dimensions"),
                format!("use {} or {}", v - 1, v + 1),
            );
            None
        }
        Some(v) => u32::try_from(v).ok(),
    }
}

fn codec(report: &mut Report, path: &str, text: &str) -> Option<VideoCodec> {
    match text {
        "h264" => return Some(VideoCodec::H264),
        "hevc" => return Some(VideoCodec::Hevc),
        _ => {}
    }
    let lower = text.to_lowercase().replace(['.', '-', '_'], "");
    let fix = match lower.as_str() {
        "h264" | "avc" | "avc1" | "x264" | "libx264" => "write `codec: h264`".to_owned(),
        "h265" | "hevc" | "hvc1" | "hev1" | "x265" | "libx265" => "write `codec: hevc`".to_owned(),
        _ => "use h264 or hevc (other codecs are not supported)".to_owned(),
    };
    report.push(path, format!("unknown video codec {text:?}"), fix);
    None
}

fn h264_profile(report: &mut Report, path: &str, text: &str) -> Option<H264Profile> {
    match text {
        "baseline" => return Some(H264Profile::Baseline),
        "main" => return Some(H264Profile::Main),
        "high" => return Some(H264Profile::High),
        _ => {}
    }
    let fix = match suggest(text, &["baseline", "main", "high"]) {
        Some(n) if text.to_lowercase().starts_with(n) || n.len() == text.len() => {
            format!("write `h264_profile: {n}`")
        }
        _ => "use baseline, main or high (8-bit 4:2:0 profiles only)".to_owned(),
    };
    report.push(path, format!("unknown H.264 profile {text:?}"), fix);
    None
}

/// Checks a level for the codec and, when the size is known, that the frame fits it.
fn level(
    report: &mut Report,
    path: &str,
    text: &str,
    codec: VideoCodec,
    size: Option<(u32, u32)>,
) -> Option<String> {
    let trimmed = text.trim();
    let normal = trimmed.strip_suffix(".0").unwrap_or(trimmed).to_lowercase();
    let table: &[(&str, u64)] = match codec {
        VideoCodec::H264 => &H264_LEVELS,
        VideoCodec::Hevc => &HEVC_LEVELS,
    };
    let Some(&(known, limit)) = table.iter().find(|(l, _)| *l == normal) else {
        let all: Vec<&str> = table.iter().map(|(l, _)| *l).collect();
        report.push(
            path,
            format!(
                "{text:?} is not a {} level",
                if codec == VideoCodec::H264 {
                    "H.264"
                } else {
                    "HEVC"
                }
            ),
            format!(
                "use one of {}, or leave `level` out to let the encoder choose",
                all.join(", ")
            ),
        );
        return None;
    };
    if let Some((w, h)) = size {
        let (need, unit) = match codec {
            VideoCodec::H264 => (
                u64::from(w).div_ceil(16) * u64::from(h).div_ceil(16),
                "macroblocks",
            ),
            VideoCodec::Hevc => (u64::from(w) * u64::from(h), "luma samples"),
        };
        if need > limit {
            let enough = table.iter().find(|(_, l)| *l >= need).map(|(l, _)| *l);
            let fix = match enough {
                Some(l) => format!(
                    "use level {l} or higher, or leave `level` out to let the encoder choose"
                ),
                None => "lower the resolution, or leave `level` out".to_owned(),
            };
            report.push(
                path,
                format!(
                    "level {known} allows at most {limit} {unit} per frame; {w}x{h} needs {need}"
                ),
                fix,
            );
            return None;
        }
    }
    Some(known.to_owned())
}
