//! The rules a written profile must follow, and the defaults it gets.
//!
//! Each rule reports at the YAML path of the value to change, with the fix.
//! Rules that compare several values (bitrates down the ladder, duplicate
//! names, one passthrough) report at the later or smaller rendition.

use livefleet_base::RenditionName;

use crate::error::Report;
use crate::walk::suggest;
use crate::wire::{AudioWire, ProfileWire, VideoWire};

mod audio;
mod captions;
mod choices;
mod size;
mod video;

use crate::{
    AudioRendition, DecoderChoice, EncoderChoice, LadderProfile, Preset, VideoCodec, VideoRendition,
};
pub(crate) use audio::audio;
use choices::{decoder, encoder, preset};
use size::{too_many_audio, too_many_video};
pub(crate) use video::video;

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
            let count = list.len();
            let rungs: Vec<(String, Option<VideoRendition>)> = list
                .into_iter()
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
                .collect();
            too_many_video(report, count);
            rungs
        }
    };
    let audio_list = w.audio.unwrap_or_default();
    let audio_count = audio_list.len();
    let audio: Vec<(String, Option<AudioRendition>)> = audio_list
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
    too_many_audio(report, audio_count);

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

    let captions = captions::captions(w.captions.unwrap_or_default(), report);
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
        captions: captions?,
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
