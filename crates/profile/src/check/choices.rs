//! The profile-wide choices: decoder, encoder and preset.

use super::*;
use crate::error::Report;
use crate::{DecoderChoice, EncoderChoice, Preset};

pub(super) fn decoder(report: &mut Report, text: &str) -> Option<DecoderChoice> {
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

pub(super) fn encoder(report: &mut Report, text: &str) -> Option<EncoderChoice> {
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

pub(super) fn preset(report: &mut Report, text: &str) -> Option<Preset> {
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
