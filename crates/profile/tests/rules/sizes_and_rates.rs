//! Picture sizes, bitrates and names.

use super::*;

// --- dimensions ---

#[test]
fn odd_width() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1279, height: 720, bitrate: 3000k }\n",
            AUDIO,
        ),
        "video[0].width",
        "is odd",
    );
}

#[test]
fn odd_height() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 721, bitrate: 3000k }\n",
            AUDIO,
        ),
        "video[0].height",
        "is odd",
    );
}

#[test]
fn zero_dimension() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 0, height: 720, bitrate: 3000k }\n",
            AUDIO,
        ),
        "video[0].width",
        "width is 0",
    );
}

#[test]
fn dimension_too_large() {
    only(
        &doc(
            TOP,
            "  - { name: big, width: 8194, height: 720, bitrate: 30M }\n",
            AUDIO,
        ),
        "video[0].width",
        "outside 16..=8192",
    );
}

#[test]
fn dimension_too_small() {
    only(
        &doc(
            TOP,
            "  - { name: tiny, width: 64, height: 8, bitrate: 100k }\n",
            AUDIO,
        ),
        "video[0].height",
        "outside 16..=8192",
    );
}

// --- bitrates ---

#[test]
fn video_bitrate_too_low_suggests_k() {
    let errs = errors(&doc(
        TOP,
        "  - { name: 720p, width: 1280, height: 720, bitrate: 3000 }\n",
        AUDIO,
    ));
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(errs.0[0].path, "video[0].bitrate");
    assert!(errs.0[0].message.contains("outside 50k..=100M"), "{errs}");
    assert!(errs.0[0].fix.contains("`3000k`"), "{errs}");
}

#[test]
fn video_bitrate_too_high() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 101M }\n",
            AUDIO,
        ),
        "video[0].bitrate",
        "outside 50k..=100M",
    );
}

#[test]
fn audio_bitrate_out_of_range() {
    only(
        &doc(TOP, V720, "audio:\n  - { name: audio, bitrate: 640k }\n"),
        "audio[0].bitrate",
        "outside 8k..=512k",
    );
}

#[test]
fn max_bitrate_below_bitrate() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, max_bitrate: 2M }\n",
            AUDIO,
        ),
        "video[0].max_bitrate",
        "lower than bitrate",
    );
}

#[test]
fn bitrates_must_fall_with_resolution() {
    let video = "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n  - { name: 1080p, width: 1920, height: 1080, bitrate: 2500k }\n";
    only(
        &doc(TOP, video, AUDIO),
        "video[0].bitrate",
        "is not lower than the 2500k of the larger `1080p`",
    );
}

#[test]
fn equal_bitrates_down_the_ladder_are_refused() {
    let video = "  - { name: 1080p, width: 1920, height: 1080, bitrate: 3M }\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n";
    only(&doc(TOP, video, AUDIO), "video[1].bitrate", "not lower");
}

// --- names ---

#[test]
fn duplicate_names_across_video_and_audio() {
    only(
        &doc(TOP, V720, "audio:\n  - { name: 720p }\n"),
        "audio[0].name",
        "already used by video[0]",
    );
}

#[test]
fn name_not_url_safe() {
    only(
        &doc(
            TOP,
            "  - { name: 720P, width: 1280, height: 720, bitrate: 3000k }\n",
            AUDIO,
        ),
        "video[0].name",
        "bad name",
    );
}

#[test]
fn empty_rendition_name() {
    only(
        &doc(
            TOP,
            "  - { name: '', width: 1280, height: 720, bitrate: 3000k }\n",
            AUDIO,
        ),
        "video[0].name",
        "name is empty",
    );
}

#[test]
fn empty_profile_name() {
    only(&doc("name: ''\n", V720, AUDIO), "name", "name is empty");
}
