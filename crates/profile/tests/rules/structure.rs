//! Keys, types and the document itself.

use super::*;

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
