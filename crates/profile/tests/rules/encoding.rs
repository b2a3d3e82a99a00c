//! Encoder, preset and codecs.

use super::*;

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
