//! One test per validation rule: each document breaks exactly one rule and
//! must get exactly one error, at the right path, with a fix.

use livefleet_profile::{LadderProfile, ProfileErrors};

const TOP: &str = "name: t\nsegment_duration: 4\ngop: 2\n";
const V1080: &str = "  - { name: 1080p, width: 1920, height: 1080, bitrate: 6000k }\n";
const V720: &str = "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n";
const AUDIO: &str = "audio:\n  - { name: audio, bitrate: 128k }\n";

/// A document from its top-level keys, video items and audio section.
fn doc(top: &str, video: &str, audio: &str) -> String {
    format!("{top}video:\n{video}{audio}")
}

fn errors(yaml: &str) -> ProfileErrors {
    match LadderProfile::from_yaml("test.yaml", yaml) {
        Ok(p) => panic!("expected errors, got {p:?}\n--- from ---\n{yaml}"),
        Err(e) => e,
    }
}

/// Exactly one error, at `path`, whose message contains `needle`.
#[track_caller]
fn only(yaml: &str, path: &str, needle: &str) {
    let errs = errors(yaml);
    assert_eq!(
        errs.len(),
        1,
        "expected one error, got:\n{errs}\n--- from ---\n{yaml}"
    );
    let e = &errs.0[0];
    assert_eq!(e.file, "test.yaml");
    assert_eq!(e.path, path, "{errs}");
    assert!(
        e.message.contains(needle),
        "message {:?} lacks {needle:?}",
        e.message
    );
    assert!(!e.fix.is_empty());
}

#[test]
fn base_document_is_valid() {
    let p =
        LadderProfile::from_yaml("test.yaml", &doc(TOP, &format!("{V1080}{V720}"), AUDIO)).unwrap();
    assert_eq!(p.video.len(), 2);
    assert_eq!(p.video[0].max_bitrate, 7_800_000);
    assert!(p.allow_cpu);
    assert_eq!(p.audio[0].channels, 2);
    assert_eq!(p.audio[0].sample_rate, 48000);
}

#[test]
fn display_names_file_path_and_fix() {
    let errs = errors(&doc(
        TOP,
        "  - { name: 720p, width: 1281, height: 720, bitrate: 3000k }\n",
        AUDIO,
    ));
    let line = errs.to_string();
    assert!(
        line.starts_with("test.yaml: video[0].width: width 1281 is odd"),
        "{line}"
    );
    assert!(line.ends_with("(fix: use 1280 or 1282)"), "{line}");
}

mod encoding;
mod ladder;
mod sizes_and_rates;
mod structure;
mod timing;
