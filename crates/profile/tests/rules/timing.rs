//! Segment duration, GOP and frame rates.

use super::*;

// --- timing ---

#[test]
fn segment_not_whole_gops() {
    only(
        &doc("name: t\nsegment_duration: 5\ngop: 2\n", V720, AUDIO),
        "segment_duration",
        "not a whole number of GOPs",
    );
}

#[test]
fn whole_gops_tolerates_float_error() {
    let p = LadderProfile::from_yaml(
        "t",
        &doc(
            "name: t\nsegment_duration: 3.0000000001\ngop: 1.0\n",
            V720,
            AUDIO,
        ),
    )
    .unwrap();
    assert_eq!(p.gops_per_segment(), 3);
    let p = LadderProfile::from_yaml(
        "t",
        &doc("name: t\nsegment_duration: 3\ngop: 1.5\n", V720, AUDIO),
    )
    .unwrap();
    assert_eq!(p.gops_per_segment(), 2);
}

#[test]
fn segment_shorter_than_gop() {
    only(
        &doc("name: t\nsegment_duration: 2\ngop: 4\n", V720, AUDIO),
        "segment_duration",
        "not a whole number of GOPs",
    );
}

#[test]
fn gop_out_of_range() {
    only(
        &doc("name: t\nsegment_duration: 4\ngop: 0.25\n", V720, AUDIO),
        "gop",
        "outside 0.5..=10",
    );
}

#[test]
fn segment_out_of_range() {
    only(
        &doc("name: t\nsegment_duration: 14\ngop: 2\n", V720, AUDIO),
        "segment_duration",
        "outside 1..=12",
    );
}

#[test]
fn frame_rate_zero() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, frame_rate: 0 }\n",
            AUDIO,
        ),
        "video[0].frame_rate",
        "outside 0..=240",
    );
}

#[test]
fn frame_rate_too_high() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, frame_rate: 300 }\n",
            AUDIO,
        ),
        "video[0].frame_rate",
        "outside 0..=240",
    );
}

#[test]
fn frame_rate_word() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, frame_rate: native }\n",
            AUDIO,
        ),
        "video[0].frame_rate",
        "`source` or frames per second",
    );
}
