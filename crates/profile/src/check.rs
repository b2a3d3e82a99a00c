//! The rules a written profile must follow, and the defaults it gets.
//!
//! Each rule reports at the YAML path of the value to change, with the fix.
//! Rules that compare several values (bitrates down the ladder, duplicate
//! names, one passthrough) report at the later or smaller rendition.

use livefleet_base::RenditionName;

use crate::error::Report;
use crate::walk::suggest;
use crate::wire::{AudioWire, ProfileWire, VideoWire};
use crate::{
    AudioRendition, DecoderChoice, EncoderChoice, FrameRate, H264Profile, LadderProfile, Preset,
    VideoCodec, VideoRendition,
};

/// Smallest and largest width or height, in pixels.
pub(crate) const DIMENSION_RANGE: (u64, u64) = (16, 8192);
/// Video bitrate range, bits/s.
pub(crate) const VIDEO_BITRATE_RANGE: (u64, u64) = (50_000, 100_000_000);
/// Audio bitrate range, bits/s.
pub(crate) const AUDIO_BITRATE_RANGE: (u64, u64) = (8_000, 512_000);
/// GOP range, seconds.
pub(crate) const GOP_RANGE: (f64, f64) = (0.5, 10.0);
/// Segment duration range, seconds.
pub(crate) const SEGMENT_RANGE: (f64, f64) = (1.0, 12.0);
/// Highest frame rate accepted.
pub(crate) const MAX_FRAME_RATE: f64 = 240.0;
/// Sampling frequencies AAC can signal with an index.
pub(crate) const AAC_SAMPLE_RATES: [u32; 12] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
];
/// Slack when checking that a segment is a whole number of GOPs.
const GOP_TOLERANCE: f64 = 1e-6;

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

/// `6000k`, `1.5M`-style text for messages.
fn rate(bits: u64) -> String {
    if bits >= 1_000_000 && bits.is_multiple_of(1_000_000) {
        format!("{}M", bits / 1_000_000)
    } else if bits.is_multiple_of(1000) {
        format!("{}k", bits / 1000)
    } else {
        format!("{bits} b/s")
    }
}

fn missing(report: &mut Report, path: &str, key: &str, example: &str) {
    report.push(
        path,
        format!("missing required key `{key}`"),
        format!("add `{example}`"),
    );
}

/// Checks a rendition or profile name against the URL-safe name rules.
fn name(
    report: &mut Report,
    path: &str,
    value: Option<&str>,
    example: &str,
) -> Option<RenditionName> {
    let Some(value) = value else {
        missing(report, path, "name", &format!("name: {example}"));
        return None;
    };
    match RenditionName::new(value) {
        Ok(n) => Some(n),
        Err(e) => {
            let fix = if value.is_empty() {
                format!("give it a name, e.g. `name: {example}`")
            } else {
                let tidy: String = value
                    .to_lowercase()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                let tidy = tidy
                    .trim_start_matches(['-', '_'])
                    .chars()
                    .take(64)
                    .collect::<String>();
                if tidy.is_empty() {
                    format!("use lower-case letters, digits, '-' and '_', e.g. `name: {example}`")
                } else {
                    format!("use lower-case letters, digits, '-' and '_', e.g. `name: {tidy}`")
                }
            };
            report.push(path, format!("bad name: {e}"), fix);
            None
        }
    }
}

fn range_f64(
    report: &mut Report,
    path: &str,
    what: &str,
    v: f64,
    (lo, hi): (f64, f64),
    unit: &str,
) -> Option<f64> {
    if v >= lo && v <= hi {
        Some(v)
    } else {
        report.push(
            path,
            format!("{what} {v} {unit} is outside {lo}..={hi} {unit}"),
            format!("use a value from {lo} to {hi}"),
        );
        None
    }
}

fn bitrate_in_range(
    report: &mut Report,
    path: &str,
    key: &str,
    bits: u64,
    (lo, hi): (u64, u64),
) -> Option<u64> {
    if (lo..=hi).contains(&bits) {
        return Some(bits);
    }
    let fix = match bits.checked_mul(1000) {
        Some(k) if bits < lo && (lo..=hi).contains(&k) => {
            format!(
                "plain numbers are bits/s: did you mean `{bits}k`? (allowed: {} to {})",
                rate(lo),
                rate(hi)
            )
        }
        _ => format!("use a bitrate from {} to {}", rate(lo), rate(hi)),
    };
    report.push(
        path,
        format!(
            "{key} {} is outside {}..={}",
            rate(bits),
            rate(lo),
            rate(hi)
        ),
        fix,
    );
    None
}

/// Checks a whole profile; `None` if a required part is missing or broken
/// (the report then says why).
pub(crate) fn profile(w: ProfileWire, report: &mut Report) -> Option<LadderProfile> {
    let profile_name = name(report, "name", w.name.as_deref(), "my-ladder").map(String::from);

    let segment_duration = w.segment_duration.unwrap_or(4.0);
    let gop = w.gop.unwrap_or(2.0);
    let seg_ok = range_f64(
        report,
        "segment_duration",
        "segment_duration",
        segment_duration,
        SEGMENT_RANGE,
        "s",
    );
    let gop_ok = range_f64(report, "gop", "gop", gop, GOP_RANGE, "s");
    if let (Some(seg), Some(gop)) = (seg_ok, gop_ok) {
        let ratio = seg / gop;
        if ratio.round() < 1.0 || (ratio - ratio.round()).abs() > GOP_TOLERANCE {
            let below = (ratio.floor().max(1.0)) * gop;
            let above = (ratio.floor() + 1.0).max(1.0) * gop;
            let fix = if below == above || below < SEGMENT_RANGE.0 {
                format!("use a multiple of the gop such as {above}, or change gop")
            } else {
                format!("use a multiple of the gop such as {below} or {above}, or change gop")
            };
            report.push(
                "segment_duration",
                format!("segment_duration {seg} s is not a whole number of GOPs of {gop} s; segments must start on a keyframe"),
                fix,
            );
        }
    }

    let encoder = match w.encoder.as_deref() {
        None => Some(EncoderChoice::Auto),
        Some(text) => encoder(report, text),
    };
    let decoder = match w.decoder.as_deref() {
        None => Some(DecoderChoice::Auto),
        Some(text) => decoder(report, text),
    };
    let preset = match w.preset.as_deref() {
        None => Some(Preset::default()),
        Some(text) => preset(report, text),
    };

    let mut facts: Vec<Facts> = Vec::new();
    let video: Vec<(String, Option<VideoRendition>)> = match w.video {
        None => {
            missing(
                report,
                "video",
                "video",
                "video: [ { name: 720p, width: 1280, height: 720, bitrate: 3000k } ]",
            );
            Vec::new()
        }
        Some(list) => {
            if list.is_empty() {
                report.push(
                    "video",
                    "the ladder has no video rendition",
                    "add at least one rendition under `video:`",
                );
            }
            list.into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let at = format!("video[{i}]");
                    let passthrough = v.passthrough == Some(true);
                    facts.push(Facts {
                        at: at.clone(),
                        name: v.name.as_deref().and_then(|n| RenditionName::new(n).ok()),
                        passthrough,
                        hevc: !passthrough && v.codec.as_deref() == Some("hevc"),
                    });
                    let r = video(v, &at, report);
                    (at, r)
                })
                .collect()
        }
    };
    let audio: Vec<(String, Option<AudioRendition>)> = w
        .audio
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let at = format!("audio[{i}]");
            facts.push(Facts {
                at: at.clone(),
                name: a.name.as_deref().and_then(|n| RenditionName::new(n).ok()),
                passthrough: false,
                hevc: false,
            });
            let r = audio(a, &at, report);
            (at, r)
        })
        .collect();

    ladder_rules(report, &facts, &video);

    let first_hevc = facts.iter().find(|f| f.hevc).map(|f| f.at.clone());
    if encoder == Some(EncoderChoice::X264) {
        for f in facts.iter().filter(|f| f.hevc) {
            report.push(
                format!("{}.codec", f.at),
                "codec hevc cannot be encoded with `encoder: x264` (libx264 makes H.264 only)",
                "use `encoder: nvenc` (or `auto` with `allow_cpu: false`), or `codec: h264`",
            );
        }
    }
    let allow_cpu = match w.allow_cpu {
        None => {
            encoder != Some(EncoderChoice::Nvenc)
                && decoder != Some(DecoderChoice::Nvdec)
                && first_hevc.is_none()
        }
        Some(false) => false,
        Some(true) => {
            if decoder == Some(DecoderChoice::Nvdec) {
                report.push(
                    "allow_cpu",
                    "`allow_cpu: true` contradicts `decoder: nvdec`: a CPU-only node has no NVDEC",
                    "set `allow_cpu: false`, or `decoder: auto` to decode on the CPU where there is no GPU",
                );
            }
            if encoder == Some(EncoderChoice::Nvenc) {
                report.push(
                    "allow_cpu",
                    "`allow_cpu: true` contradicts `encoder: nvenc`: a CPU-only node has no NVENC",
                    "set `allow_cpu: false`, or `encoder: auto` to fall back to libx264 on CPU nodes",
                );
            } else if let Some(at) = &first_hevc {
                report.push(
                    "allow_cpu",
                    format!("`allow_cpu: true` but {at} is HEVC, which a CPU-only node (libx264) cannot encode"),
                    "set `allow_cpu: false` so the ladder runs on NVENC, or use `codec: h264`",
                );
            }
            true
        }
    };

    let video: Option<Vec<VideoRendition>> = video.into_iter().map(|(_, v)| v).collect();
    let audio: Option<Vec<AudioRendition>> = audio.into_iter().map(|(_, a)| a).collect();
    Some(LadderProfile {
        name: profile_name?,
        description: w.description.unwrap_or_default(),
        segment_duration: seg_ok?,
        gop: gop_ok?,
        encoder: encoder?,
        decoder: decoder?,
        preset: preset?,
        allow_upscale: w.allow_upscale.unwrap_or(false),
        allow_cpu,
        video: video?,
        audio: audio?,
    })
}

/// What the rules across renditions need, read from the written form so that
/// a rendition with an unrelated problem (say, an odd width) still takes part.
struct Facts {
    /// `video[1]`, `audio[0]`.
    at: String,
    name: Option<RenditionName>,
    passthrough: bool,
    /// An encoded rendition with `codec: hevc`.
    hevc: bool,
}

/// Rules across renditions: unique names, one passthrough, bitrates that fall
/// with resolution.
fn ladder_rules(report: &mut Report, facts: &[Facts], video: &[(String, Option<VideoRendition>)]) {
    let mut seen: Vec<(&String, &RenditionName)> = Vec::new();
    for f in facts {
        let Some(n) = &f.name else { continue };
        if let Some((first, _)) = seen.iter().find(|(_, m)| *m == n) {
            report.push(
                format!("{}.name", f.at),
                format!("rendition name `{n}` is already used by {first}"),
                "give every rendition (video and audio) its own name: they share the channel's directory",
            );
        } else {
            seen.push((&f.at, n));
        }
    }

    let mut passthrough: Option<&String> = None;
    for f in facts.iter().filter(|f| f.passthrough) {
        match passthrough {
            Some(first) => report.push(
                format!("{}.passthrough", f.at),
                format!("a second passthrough rendition; {first} already copies the source video"),
                "keep a single passthrough rendition",
            ),
            None => passthrough = Some(&f.at),
        }
    }

    for codec in [VideoCodec::H264, VideoCodec::Hevc] {
        let mut ladder: Vec<(&String, &VideoRendition)> = video
            .iter()
            .filter_map(|(at, v)| v.as_ref().map(|v| (at, v)))
            .filter(|(_, v)| !v.passthrough && v.codec == codec)
            .collect();
        ladder.sort_by_key(|(_, v)| std::cmp::Reverse(v.pixels()));
        for pair in ladder.windows(2) {
            let [(_, big), (at, small)] = pair else {
                continue;
            };
            if small.pixels() < big.pixels() && small.bitrate >= big.bitrate {
                report.push(
                    format!("{at}.bitrate"),
                    format!(
                        "bitrate {} of `{}` ({}x{}) is not lower than the {} of the larger `{}` ({}x{})",
                        rate(small.bitrate),
                        small.name,
                        small.width,
                        small.height,
                        rate(big.bitrate),
                        big.name,
                        big.width,
                        big.height
                    ),
                    format!("give smaller renditions lower bitrates: lower this one below {}, or raise `{}`", rate(big.bitrate), big.name),
                );
            }
        }
    }
}

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

fn decoder(report: &mut Report, text: &str) -> Option<DecoderChoice> {
    match text {
        "auto" => return Some(DecoderChoice::Auto),
        "nvdec" => return Some(DecoderChoice::Nvdec),
        "cpu" => return Some(DecoderChoice::Cpu),
        _ => {}
    }
    let lower = text.to_lowercase();
    let near = if lower.contains("nvdec") || lower.contains("cuda") || lower == "gpu" {
        Some("nvdec")
    } else if lower.contains("soft") || lower == "ffmpeg" {
        Some("cpu")
    } else {
        suggest(text, &["auto", "nvdec", "cpu"])
    };
    let fix = match near {
        Some(n) => format!("write `decoder: {n}`"),
        None => "use auto, nvdec or cpu".to_owned(),
    };
    report.push(
        "decoder",
        format!("unknown decoder {text:?}; the choices are auto, nvdec and cpu"),
        fix,
    );
    None
}

fn encoder(report: &mut Report, text: &str) -> Option<EncoderChoice> {
    match text {
        "auto" => return Some(EncoderChoice::Auto),
        "nvenc" => return Some(EncoderChoice::Nvenc),
        "x264" => return Some(EncoderChoice::X264),
        _ => {}
    }
    let lower = text.to_lowercase();
    let near = if lower.contains("nvenc") || lower == "gpu" || lower == "nvidia" {
        Some("nvenc")
    } else if lower.contains("264") || lower == "cpu" {
        Some("x264")
    } else {
        suggest(text, &["auto", "nvenc", "x264"])
    };
    let fix = match near {
        Some(n) => format!("write `encoder: {n}`"),
        None => "use auto, nvenc or x264".to_owned(),
    };
    report.push(
        "encoder",
        format!("unknown encoder {text:?}; the choices are auto, nvenc and x264"),
        fix,
    );
    None
}

fn preset(report: &mut Report, text: &str) -> Option<Preset> {
    if let Some(p) = Preset::parse(text) {
        return Some(p);
    }
    let lower = text.to_lowercase();
    let fix = if let Some(p) = Preset::parse(&lower) {
        format!(
            "write it in lower case: `preset: {}`",
            if lower.starts_with('p') {
                p.nvenc()
            } else {
                p.x264()
            }
        )
    } else if ["slower", "veryslow", "placebo"].contains(&lower.as_str()) {
        "x264 presets slower than `slow` are not offered; use `slow` (same as p7)".to_owned()
    } else if let Some(p) = lower.parse::<u8>().ok().and_then(Preset::new) {
        format!("write `preset: {}`", p.nvenc())
    } else {
        let all = [
            "p1",
            "p2",
            "p3",
            "p4",
            "p5",
            "p6",
            "p7",
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
        ];
        match suggest(text, &all) {
            Some(n) => format!("did you mean `{n}`?"),
            None => {
                "use p1 (fastest) .. p7 (best), or an x264 name from ultrafast to slow".to_owned()
            }
        }
    };
    report.push("preset", format!("unknown preset {text:?}"), fix);
    None
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

/// Checks one audio rendition at `at` (`audio[0]`).
pub(crate) fn audio(w: AudioWire, at: &str, report: &mut Report) -> Option<AudioRendition> {
    let p = |key: &str| format!("{at}.{key}");
    let rendition_name = name(report, &p("name"), w.name.as_deref(), "audio");
    let bitrate = bitrate_in_range(
        report,
        &p("bitrate"),
        "bitrate",
        w.bitrate.unwrap_or(128_000),
        AUDIO_BITRATE_RANGE,
    );
    let channels = match w.channels.unwrap_or(2) {
        c @ (1 | 2 | 6) => u8::try_from(c).ok(),
        c => {
            report.push(
                p("channels"),
                format!("{c} channels are not supported"),
                "use 1 (mono), 2 (stereo) or 6 (5.1)",
            );
            None
        }
    };
    let sample_rate = match u32::try_from(w.sample_rate.unwrap_or(48000)) {
        Ok(r) if AAC_SAMPLE_RATES.contains(&r) => Some(r),
        _ => {
            let list: Vec<String> = AAC_SAMPLE_RATES.iter().rev().map(u32::to_string).collect();
            report.push(
                p("sample_rate"),
                format!(
                    "sample_rate {} Hz is not an AAC sampling rate",
                    w.sample_rate.unwrap_or(0)
                ),
                format!("use 48000 or 44100 (allowed: {})", list.join(", ")),
            );
            None
        }
    };
    Some(AudioRendition {
        name: rendition_name?,
        passthrough: w.passthrough.unwrap_or(false),
        bitrate: bitrate?,
        channels: channels?,
        sample_rate: sample_rate?,
    })
}

/// Serde's way in: the same rules, errors labelled `<serde>`.
impl TryFrom<ProfileWire> for LadderProfile {
    type Error = crate::ProfileErrors;
    fn try_from(w: ProfileWire) -> Result<Self, Self::Error> {
        let mut report = Report::new("<serde>");
        match profile(w, &mut report) {
            Some(p) if report.is_clean() => Ok(p),
            _ => Err(report.into_errors()),
        }
    }
}

impl TryFrom<VideoWire> for VideoRendition {
    type Error = crate::ProfileErrors;
    fn try_from(w: VideoWire) -> Result<Self, Self::Error> {
        let mut report = Report::new("<serde>");
        match video(w, "video", &mut report) {
            Some(v) if report.is_clean() => Ok(v),
            _ => Err(report.into_errors()),
        }
    }
}

impl TryFrom<AudioWire> for AudioRendition {
    type Error = crate::ProfileErrors;
    fn try_from(w: AudioWire) -> Result<Self, Self::Error> {
        let mut report = Report::new("<serde>");
        match audio(w, "audio", &mut report) {
            Some(a) if report.is_clean() => Ok(a),
            _ => Err(report.into_errors()),
        }
    }
}
