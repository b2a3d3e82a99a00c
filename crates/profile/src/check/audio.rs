//! The rules of one audio rendition.

use super::*;
use crate::error::Report;
use crate::wire::AudioWire;
use crate::AudioRendition;

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
