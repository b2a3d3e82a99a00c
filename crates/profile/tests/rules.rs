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

// --- structure ---

#[test]
fn unknown_top_level_key_with_suggestion() {
    only(
        &format!("segment_duraton: 4\n{}", doc("name: t\n", V720, AUDIO)),
        "segment_duraton",
        "did you mean `segment_duration`",
    );
}

#[test]
fn unknown_rendition_key_without_suggestion() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, colour: red }\n",
            AUDIO,
        ),
        "video[0].colour",
        "unknown key `colour`",
    );
}

#[test]
fn misspelt_required_key_is_one_error_not_two() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrat: 3000k }\n",
            AUDIO,
        ),
        "video[0].bitrat",
        "did you mean `bitrate`",
    );
}

#[test]
fn unknown_audio_key() {
    only(
        &doc(
            TOP,
            V720,
            "audio:\n  - { name: audio, samplerate: 48000 }\n",
        ),
        "audio[0].samplerate",
        "did you mean `sample_rate`",
    );
}

#[test]
fn wrong_type_is_reported_once() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: wide, height: 720, bitrate: 3000k }\n",
            AUDIO,
        ),
        "video[0].width",
        "expected a whole number of pixels",
    );
}

#[test]
fn wrong_type_boolean() {
    only(
        &doc(&format!("{TOP}allow_cpu: yes\n"), V720, AUDIO),
        "allow_cpu",
        "expected true or false",
    );
}

#[test]
fn wrong_type_video_not_a_list() {
    only(&format!("{TOP}video: 720p\n"), "video", "expected a list");
}

#[test]
fn wrong_type_rendition_not_a_mapping() {
    only(
        &doc(TOP, "  - 720p\n", AUDIO),
        "video[0]",
        "expected a video rendition as a mapping",
    );
}

#[test]
fn bad_bitrate_text() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3 Mbps }\n",
            AUDIO,
        ),
        "video[0].bitrate",
        "expected a bitrate",
    );
}

#[test]
fn missing_required_top_level_key() {
    only(
        &doc("segment_duration: 4\n", V720, AUDIO),
        "name",
        "missing required key `name`",
    );
}

#[test]
fn missing_video() {
    only(
        &format!("{TOP}{AUDIO}"),
        "video",
        "missing required key `video`",
    );
}

#[test]
fn missing_rendition_keys_each_reported() {
    let errs = errors(&doc(TOP, "  - { name: 720p }\n", AUDIO));
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["video[0].width", "video[0].height", "video[0].bitrate"]
    );
    assert!(errs
        .iter()
        .all(|e| e.message.starts_with("missing required key")));
}

#[test]
fn document_not_a_mapping() {
    only(
        "- a\n- b\n",
        "(document)",
        "expected the profile as a mapping",
    );
}

#[test]
fn empty_document() {
    only("", "(document)", "the profile is empty");
}

#[test]
fn broken_yaml_names_line() {
    only("name: t\nvideo: [\n", "line 3, column 1", "not valid YAML");
}

#[test]
fn duplicate_key_is_refused() {
    let errs = errors(&format!("name: a\n{}", doc(TOP, V720, AUDIO)));
    assert_eq!(errs.len(), 1);
    assert!(errs.0[0].message.contains("duplicate"), "{errs}");
}

#[test]
fn non_string_key() {
    only(
        &format!("{}1: x\n", doc(TOP, V720, AUDIO)),
        "<the number 1>",
        "keys must be strings",
    );
}

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

// --- encoder, preset, codecs ---

#[test]
fn unknown_preset() {
    only(
        &doc(&format!("{TOP}preset: p9\n"), V720, AUDIO),
        "preset",
        "unknown preset \"p9\"",
    );
}

#[test]
fn slower_x264_preset_names_the_slowest_offered() {
    let errs = errors(&doc(&format!("{TOP}preset: veryslow\n"), V720, AUDIO));
    assert_eq!(errs.len(), 1);
    assert!(errs.0[0].fix.contains("slow"), "{errs}");
}

#[test]
fn x264_preset_names_map_to_levels() {
    let p = LadderProfile::from_yaml("t", &doc(&format!("{TOP}preset: veryfast\n"), V720, AUDIO))
        .unwrap();
    assert_eq!(p.preset.level(), 3);
    assert_eq!(p.preset.nvenc(), "p3");
    assert_eq!(p.preset.x264(), "veryfast");
}

#[test]
fn unknown_encoder() {
    let errs = errors(&doc(&format!("{TOP}encoder: libx264\n"), V720, AUDIO));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs.0[0].path, "encoder");
    assert!(errs.0[0].fix.contains("x264"), "{errs}");
}

#[test]
fn unknown_codec() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, codec: av1 }\n",
            AUDIO,
        ),
        "video[0].codec",
        "unknown video codec",
    );
}

#[test]
fn hevc_with_x264() {
    let top = format!("{TOP}encoder: x264\nallow_cpu: false\n");
    only(
        &doc(
            &top,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, codec: hevc }\n",
            AUDIO,
        ),
        "video[0].codec",
        "cannot be encoded with `encoder: x264`",
    );
}

#[test]
fn hevc_with_allow_cpu() {
    let top = format!("{TOP}allow_cpu: true\n");
    only(
        &doc(
            &top,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, codec: hevc }\n",
            AUDIO,
        ),
        "allow_cpu",
        "HEVC",
    );
}

#[test]
fn hevc_defaults_to_no_cpu() {
    let p = LadderProfile::from_yaml(
        "t",
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, codec: hevc }\n",
            AUDIO,
        ),
    )
    .unwrap();
    assert!(!p.allow_cpu);
    assert!(p.uses_hevc());
}

#[test]
fn nvenc_with_allow_cpu() {
    only(
        &doc(
            &format!("{TOP}encoder: nvenc\nallow_cpu: true\n"),
            V720,
            AUDIO,
        ),
        "allow_cpu",
        "contradicts `encoder: nvenc`",
    );
}

#[test]
fn unknown_decoder_suggests_the_word() {
    let errs = errors(&doc(&format!("{TOP}decoder: cuda\n"), V720, AUDIO));
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(errs.0[0].path, "decoder");
    assert!(errs.0[0].fix.contains("decoder: nvdec"), "{errs}");
}

#[test]
fn decoder_choices_read_and_default_to_auto() {
    use livefleet_profile::DecoderChoice;
    let p = LadderProfile::from_yaml("t", &doc(TOP, V720, AUDIO)).unwrap();
    assert_eq!(p.decoder, DecoderChoice::Auto);
    let cpu =
        LadderProfile::from_yaml("t", &doc(&format!("{TOP}decoder: cpu\n"), V720, AUDIO)).unwrap();
    assert_eq!(cpu.decoder, DecoderChoice::Cpu);
    assert!(cpu.allow_cpu);
    let nvdec = LadderProfile::from_yaml("t", &doc(&format!("{TOP}decoder: nvdec\n"), V720, AUDIO))
        .unwrap();
    assert_eq!(nvdec.decoder, DecoderChoice::Nvdec);
    assert!(
        !nvdec.allow_cpu,
        "an NVDEC-only ladder cannot go to a CPU-only node"
    );
    // The written form carries the choice back.
    let again = LadderProfile::from_yaml("t", &nvdec.to_yaml().unwrap()).unwrap();
    assert_eq!(again, nvdec);
}

#[test]
fn nvdec_with_allow_cpu() {
    only(
        &doc(
            &format!("{TOP}decoder: nvdec\nallow_cpu: true\n"),
            V720,
            AUDIO,
        ),
        "allow_cpu",
        "contradicts `decoder: nvdec`",
    );
}

#[test]
fn h264_profile_on_hevc() {
    let top = format!("{TOP}allow_cpu: false\n");
    only(&doc(&top, "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, codec: hevc, h264_profile: main }\n", AUDIO), "video[0].h264_profile", "applies to H.264 only");
}

#[test]
fn unknown_h264_profile() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, h264_profile: high10 }\n",
            AUDIO,
        ),
        "video[0].h264_profile",
        "unknown H.264 profile",
    );
}

#[test]
fn unknown_level() {
    only(
        &doc(
            TOP,
            "  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, level: \"4.7\" }\n",
            AUDIO,
        ),
        "video[0].level",
        "is not a H.264 level",
    );
}

#[test]
fn level_too_low_for_frame_size() {
    let errs = errors(&doc(
        TOP,
        "  - { name: 1080p, width: 1920, height: 1080, bitrate: 6M, level: 3.1 }\n",
        AUDIO,
    ));
    assert_eq!(errs.len(), 1, "{errs}");
    assert_eq!(errs.0[0].path, "video[0].level");
    assert!(
        errs.0[0].message.contains("at most 3600 macroblocks"),
        "{errs}"
    );
    assert!(errs.0[0].fix.contains("level 4 or higher"), "{errs}");
}

#[test]
fn unquoted_level_is_accepted() {
    let p = LadderProfile::from_yaml(
        "t",
        &doc(
            TOP,
            "  - { name: 1080p, width: 1920, height: 1080, bitrate: 6M, level: 4.1 }\n",
            AUDIO,
        ),
    )
    .unwrap();
    assert_eq!(p.video[0].level.as_deref(), Some("4.1"));
}

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
