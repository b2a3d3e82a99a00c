//! The shape of the ladder, and audio.

use super::*;

// --- ladder shape ---

#[test]
fn no_video_renditions() {
    only(
        &format!("{TOP}video: []\n{AUDIO}"),
        "video",
        "no video rendition",
    );
}

#[test]
fn two_passthroughs() {
    let video = "  - { name: source, passthrough: true }\n  - { name: copy, passthrough: true }\n";
    only(
        &doc(TOP, video, AUDIO),
        "video[1].passthrough",
        "second passthrough",
    );
}

#[test]
fn passthrough_with_size() {
    only(
        &doc(
            TOP,
            "  - { name: source, passthrough: true, width: 1920 }\n",
            AUDIO,
        ),
        "video[0].width",
        "does not apply to a passthrough",
    );
}

#[test]
fn passthrough_needs_no_size() {
    let p = LadderProfile::from_yaml(
        "t",
        &doc(
            TOP,
            &format!("  - {{ name: source, passthrough: true, bitrate: 8M }}\n{V720}"),
            AUDIO,
        ),
    )
    .unwrap();
    assert!(p.video[0].passthrough);
    assert_eq!(
        (
            p.video[0].width,
            p.video[0].height,
            p.video[0].bitrate,
            p.video[0].max_bitrate
        ),
        (0, 0, 8_000_000, 8_000_000)
    );
    assert_eq!(p.encoder_sessions(), 1);
}

// --- audio ---

#[test]
fn audio_channels() {
    only(
        &doc(TOP, V720, "audio:\n  - { name: audio, channels: 4 }\n"),
        "audio[0].channels",
        "4 channels are not supported",
    );
}

#[test]
fn audio_sample_rate() {
    only(
        &doc(
            TOP,
            V720,
            "audio:\n  - { name: audio, sample_rate: 47000 }\n",
        ),
        "audio[0].sample_rate",
        "not an AAC sampling rate",
    );
}

#[test]
fn audio_is_optional() {
    let p = LadderProfile::from_yaml("t", &format!("{TOP}video:\n{V720}")).unwrap();
    assert!(p.audio.is_empty());
}

#[test]
fn empty_value_is_the_same_as_absent() {
    let p = LadderProfile::from_yaml("t", &doc("name: t\ndescription:\ngop:\n", V720, "audio:\n"))
        .unwrap();
    assert_eq!((p.description.as_str(), p.gop), ("", 2.0));
    assert!(p.audio.is_empty());
    only(
        &doc("name:\n", V720, AUDIO),
        "name",
        "missing required key `name`",
    );
}

#[test]
fn cross_rendition_rules_see_renditions_with_other_problems() {
    let top = format!("{TOP}encoder: x264\nallow_cpu: false\n");
    let video = "  - { name: 720p, width: 1281, height: 720, bitrate: 3000k, codec: hevc }\n";
    let errs = errors(&doc(&top, video, "audio:\n  - { name: 720p }\n"));
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["video[0].width", "audio[0].name", "video[0].codec"],
        "{errs}"
    );
}

#[test]
fn too_many_renditions() {
    // Two hundred encoders per channel would take a worker's memory down.
    let video: String = (0..21)
        .map(|i| {
            let w = 1920 - i * 64;
            format!(
                "  - {{ name: r{i}, width: {w}, height: {}, bitrate: {}k }}\n",
                w * 9 / 16 / 2 * 2,
                6000 - i * 200
            )
        })
        .collect();
    only(&doc(TOP, &video, AUDIO), "video", "21 video renditions");
    let audio: String = (0..9)
        .map(|i| format!("  - {{ name: a{i}, bitrate: {}k }}\n", 64 + i * 16))
        .collect();
    only(
        &doc(TOP, V720, &format!("audio:\n{audio}")),
        "audio",
        "9 audio renditions",
    );
}
