//! Reading the generic YAML tree into the written form, reporting unknown
//! keys, wrong types and missing required keys all at once.
//!
//! The walk follows only the schema's shape (document → `video`/`audio` lists
//! → rendition maps → scalars) and never descends into a value it does not
//! expect, so its depth is fixed whatever the document holds; the YAML parser
//! itself refuses documents nested deeper than 128 levels.

mod scalars;
#[cfg(test)]
mod tests;

use serde_norway::{Mapping, Value};

use scalars::{
    bitrate, boolean, describe, frame_rate, level, list, pixels, seconds, string, whole,
};

use crate::error::Report;
use crate::wire::{AudioWire, CaptionWire, ProfileWire, VideoWire};

/// Keys of the document, in the order the README lists them.
pub(crate) const PROFILE_KEYS: &[&str] = &[
    "name",
    "description",
    "segment_duration",
    "gop",
    "encoder",
    "decoder",
    "preset",
    "allow_upscale",
    "allow_cpu",
    "video",
    "audio",
    "captions",
];

/// Keys of a video rendition.
pub(crate) const VIDEO_KEYS: &[&str] = &[
    "name",
    "passthrough",
    "width",
    "height",
    "bitrate",
    "max_bitrate",
    "frame_rate",
    "codec",
    "h264_profile",
    "level",
];

/// Keys of a caption service.
pub(crate) const CAPTION_KEYS: &[&str] = &["channel", "language", "name"];

/// Keys of an audio rendition.
pub(crate) const AUDIO_KEYS: &[&str] =
    &["name", "passthrough", "bitrate", "channels", "sample_rate"];

/// Walks the parsed document. Returns `None` only if the document is not a
/// mapping at all.
pub(crate) fn profile(doc: &Value, report: &mut Report) -> Option<ProfileWire> {
    let map = as_map(doc, "(document)", "the profile", report)?;
    let mut out = ProfileWire::default();
    for (key, value) in entries(map, "", PROFILE_KEYS, report) {
        let path = key.to_owned();
        match key {
            "name" => out.name = string(value, &path, report),
            "description" => out.description = string(value, &path, report),
            "segment_duration" => out.segment_duration = seconds(value, &path, report),
            "gop" => out.gop = seconds(value, &path, report),
            "encoder" => out.encoder = string(value, &path, report),
            "decoder" => out.decoder = string(value, &path, report),
            "preset" => out.preset = string(value, &path, report),
            "allow_upscale" => out.allow_upscale = boolean(value, &path, report),
            "allow_cpu" => out.allow_cpu = boolean(value, &path, report),
            "video" => {
                out.video = list(value, &path, report).map(|l| each(l, "video", report, video))
            }
            "audio" => {
                out.audio = list(value, &path, report).map(|l| each(l, "audio", report, audio))
            }
            "captions" => {
                out.captions =
                    list(value, &path, report).map(|l| each(l, "captions", report, caption))
            }
            _ => {}
        }
    }
    Some(out)
}

/// Walks the items of a rendition list, stopping once the report is full.
fn each<T>(
    items: &[Value],
    key: &str,
    report: &mut Report,
    walk: fn(&Value, &str, &mut Report) -> T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len().min(64));
    for (i, item) in items.iter().enumerate() {
        if report.is_full() {
            report.note_more();
            break;
        }
        out.push(walk(item, &format!("{key}[{i}]"), report));
    }
    out
}

fn video(value: &Value, at: &str, report: &mut Report) -> VideoWire {
    let mut out = VideoWire::default();
    let Some(map) = as_map(value, at, "a video rendition", report) else {
        return out;
    };
    for (key, value) in entries(map, at, VIDEO_KEYS, report) {
        let path = format!("{at}.{key}");
        match key {
            "name" => out.name = string(value, &path, report),
            "passthrough" => out.passthrough = boolean(value, &path, report),
            "width" => out.width = pixels(value, &path, report),
            "height" => out.height = pixels(value, &path, report),
            "bitrate" => out.bitrate = bitrate(value, &path, report),
            "max_bitrate" => out.max_bitrate = bitrate(value, &path, report),
            "frame_rate" => out.frame_rate = frame_rate(value, &path, report),
            "codec" => out.codec = string(value, &path, report),
            "h264_profile" => out.h264_profile = string(value, &path, report),
            "level" => out.level = level(value, &path, report),
            _ => {}
        }
    }
    out
}

fn audio(value: &Value, at: &str, report: &mut Report) -> AudioWire {
    let mut out = AudioWire::default();
    let Some(map) = as_map(value, at, "an audio rendition", report) else {
        return out;
    };
    for (key, value) in entries(map, at, AUDIO_KEYS, report) {
        let path = format!("{at}.{key}");
        match key {
            "name" => out.name = string(value, &path, report),
            "passthrough" => out.passthrough = boolean(value, &path, report),
            "bitrate" => out.bitrate = bitrate(value, &path, report),
            "channels" => out.channels = whole(value, &path, "a channel count like 2", report),
            "sample_rate" => {
                out.sample_rate = whole(value, &path, "a sample rate in Hz like 48000", report)
            }
            _ => {}
        }
    }
    out
}

fn caption(value: &Value, at: &str, report: &mut Report) -> CaptionWire {
    let mut out = CaptionWire::default();
    let Some(map) = as_map(value, at, "a caption service", report) else {
        return out;
    };
    for (key, value) in entries(map, at, CAPTION_KEYS, report) {
        let path = format!("{at}.{key}");
        match key {
            "channel" => out.channel = string(value, &path, report),
            "language" => out.language = string(value, &path, report),
            "name" => out.name = string(value, &path, report),
            _ => {}
        }
    }
    out
}

fn as_map<'a>(
    value: &'a Value,
    path: &str,
    what: &str,
    report: &mut Report,
) -> Option<&'a Mapping> {
    match value {
        Value::Mapping(m) => Some(m),
        Value::Null if path == "(document)" => {
            report.push(
                path,
                "the profile is empty",
                "write at least `name:` and `video:`; see ladder-profiles/README.md",
            );
            None
        }
        other => {
            report.push(
                path,
                format!(
                    "expected {what} as a mapping of keys, found {}",
                    describe(other)
                ),
                "write `key: value` lines (indented under a `- ` list item for renditions)",
            );
            None
        }
    }
}

/// The string-keyed entries of `map` whose key is in `known`; every other key
/// is reported, with a suggestion when it looks like a misspelt known key.
fn entries<'a>(
    map: &'a Mapping,
    at: &str,
    known: &[&str],
    report: &mut Report,
) -> Vec<(&'a str, &'a Value)> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    let mut out = Vec::new();
    for (key, value) in map {
        if report.is_full() {
            report.note_more();
            break;
        }
        if let Value::Tagged(t) = key {
            report.push(
                join(&format!("<{}>", describe(key))),
                format!("YAML tags such as {} are not used in profiles", t.tag),
                "remove the tag",
            );
            continue;
        }
        let Some(key) = key.as_str() else {
            report.push(
                join(&format!("<{}>", describe(key))),
                format!("keys must be strings, found {}", describe(key)),
                format!("use one of: {}", known.join(", ")),
            );
            continue;
        };
        if known.contains(&key) {
            if value.is_null() {
                // `key:` with nothing after it: the same as leaving the key out.
                continue;
            }
            if let Value::Tagged(t) = value {
                report.push(
                    join(key),
                    format!("YAML tags such as {} are not used in profiles", t.tag),
                    format!("remove the tag and write the value plainly: `{key}: ...`"),
                );
            } else {
                out.push((key, value));
            }
            continue;
        }
        match suggest(key, known) {
            Some(near) => {
                report.push(
                    join(key),
                    format!("unknown key `{key}`; did you mean `{near}`?"),
                    format!("rename it to `{near}`"),
                );
                // The misspelt key explains why `near` looks missing.
                if !map.contains_key(near) {
                    report.silence(join(near));
                }
            }
            None => report.push(
                join(key),
                format!("unknown key `{key}`"),
                format!("remove it; known keys here are: {}", known.join(", ")),
            ),
        }
    }
    out
}

/// The known word closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-' && *c != ' ')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = squash(word);
    if let Some(k) = known.iter().find(|k| squash(k) == w) {
        return Some(k);
    }
    let limit = if w.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(&w, &squash(k)), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
