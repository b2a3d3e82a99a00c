//! Whole-profile behaviour: every problem at once, round trips, the shipped
//! profiles, files, hostile documents, and the scheduler's cost numbers.

use std::path::{Path, PathBuf};

use livefleet_profile::{
    profile_files, validate_files, EncoderChoice, FrameRate, H264Profile, LadderProfile,
    VideoCodec, MAX_PROFILE_BYTES,
};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ladder-profiles")
}

fn shipped(name: &str) -> LadderProfile {
    LadderProfile::load(&shipped_dir().join(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn five_problems_give_five_errors() {
    let yaml = "\
name: Bad Name
segment_duration: 5
gop: 2
video:
  - name: 720p
    width: 1281
    height: 720
    bitrate: 3000k
    colour: red
audio:
  - name: audio
    channels: 3
";
    let errs = LadderProfile::from_yaml("five.yaml", yaml).unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "video[0].colour",
            "name",
            "segment_duration",
            "video[0].width",
            "audio[0].channels"
        ],
        "{errs}"
    );
    assert!(errs
        .iter()
        .all(|e| e.file == "five.yaml" && !e.fix.is_empty()));
    assert_eq!(errs.to_string().lines().count(), 5);
}

#[test]
fn shipped_profiles_all_load() {
    let files = profile_files(&shipped_dir()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "cpu-small.yaml",
        "default-1080p.yaml",
        "hevc-nvenc.yaml",
        "passthrough.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    for (path, result) in validate_files(&files) {
        let p = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The profile's name is its file name.
        assert_eq!(
            Some(p.name.as_str()),
            path.file_stem().and_then(|s| s.to_str())
        );
        assert!(!p.description.is_empty());
    }
}

#[test]
fn shipped_default_ladder() {
    let p = shipped("default-1080p.yaml");
    let rungs: Vec<(u32, u32, u64)> = p
        .video
        .iter()
        .map(|v| (v.width, v.height, v.bitrate))
        .collect();
    assert_eq!(
        rungs,
        [
            (1920, 1080, 6_000_000),
            (1280, 720, 3_000_000),
            (854, 480, 1_400_000),
            (640, 360, 730_000)
        ]
    );
    assert_eq!(
        (p.segment_duration, p.gop, p.gops_per_segment()),
        (4.0, 2.0, 2)
    );
    assert_eq!(p.audio[0].bitrate, 128_000);
    assert!(p.allow_cpu && !p.uses_hevc());
    assert_eq!(p.encoder_sessions(), 4);
}

#[test]
fn cpu_small_is_the_smallest_profile_without_hevc() {
    let p = shipped("cpu-small.yaml");
    assert_eq!(p.encoder, EncoderChoice::X264);
    assert!(p.preset.level() <= 2);
    assert_eq!((p.segment_duration, p.gop), (2.0, 2.0));
    assert_eq!(p.audio[0].bitrate, 96_000);
    // What the end-to-end checks pick: the smallest tallest rendition among
    // files that never mention hevc.
    let mut best: Option<(u32, String)> = None;
    for file in profile_files(&shipped_dir()).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        if text.to_lowercase().contains("hevc") {
            continue;
        }
        let p = LadderProfile::from_yaml("t", &text).unwrap();
        let h = p.video.iter().map(|v| v.height).max().unwrap_or(0);
        if best.as_ref().is_none_or(|(b, _)| h < *b) {
            best = Some((h, p.name));
        }
    }
    assert_eq!(best, Some((360, "cpu-small".to_owned())));
}

#[test]
fn shipped_hevc_and_passthrough() {
    let h = shipped("hevc-nvenc.yaml");
    assert_eq!(h.encoder, EncoderChoice::Nvenc);
    assert!(!h.allow_cpu && h.uses_hevc());
    let p = shipped("passthrough.yaml");
    assert!(p.video[0].passthrough);
    assert_eq!(p.encoder_sessions(), 2);
    assert!(p.audio[0].passthrough);
}

#[test]
fn round_trip_through_yaml() {
    for file in profile_files(&shipped_dir()).unwrap() {
        let p = LadderProfile::load(&file).unwrap();
        let yaml = p.to_yaml().unwrap();
        let again =
            LadderProfile::from_yaml("again", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(again, p, "{yaml}");
        // serde_norway directly gives the same text and reads back too.
        assert_eq!(serde_norway::to_string(&p).unwrap(), yaml);
        let direct: LadderProfile = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(direct, p);
    }
}

#[test]
fn round_trip_keeps_odd_values() {
    let yaml = "
name: odd
segment_duration: 3
gop: 1.5
preset: slow
video:
  - { name: a, width: 1280, height: 720, bitrate: 2.5M, frame_rate: 29.97, level: '3.1', h264_profile: baseline }
  - { name: b, width: 640, height: 360, bitrate: 1000001, max_bitrate: 1000001, codec: hevc }
audio:
  - { name: mono, bitrate: 64k, channels: 1, sample_rate: 44100, passthrough: true }
";
    let p = LadderProfile::from_yaml("odd", yaml).unwrap();
    assert_eq!(p.video[0].frame_rate, FrameRate::Fixed(29.97));
    assert_eq!(p.video[0].h264_profile, H264Profile::Baseline);
    assert_eq!(p.video[1].codec, VideoCodec::Hevc);
    assert!(!p.allow_cpu);
    let again = LadderProfile::from_yaml("again", &p.to_yaml().unwrap()).unwrap();
    assert_eq!(again, p);
}

#[test]
fn round_trip_through_json() {
    let p = shipped("passthrough.yaml");
    let json = serde_json::to_string(&p).unwrap();
    let back: LadderProfile = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
}

#[test]
fn serde_refuses_what_the_rules_refuse() {
    let json = r#"{"name":"x","video":[{"name":"a","width":1281,"height":720,"bitrate":3000000}]}"#;
    let err = serde_json::from_str::<LadderProfile>(json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("video[0].width: width 1281 is odd"), "{err}");
}

#[test]
fn pixel_rate_and_sessions() {
    let yaml = "
name: cost
video:
  - { name: src, passthrough: true }
  - { name: 720p, width: 1280, height: 720, bitrate: 3M }
  - { name: 360p, width: 640, height: 360, bitrate: 700k, frame_rate: 30 }
";
    let p = LadderProfile::from_yaml("cost", yaml).unwrap();
    assert_eq!(p.encoder_sessions(), 2);
    // 60 fps source: 720p follows it, 360p is capped at 30.
    assert_eq!(
        p.pixel_rate(60.0),
        1280.0 * 720.0 * 60.0 + 640.0 * 360.0 * 30.0
    );
    // 25 fps source: the cap does not raise the rate.
    assert_eq!(p.pixel_rate(25.0), (1280.0 * 720.0 + 640.0 * 360.0) * 25.0);
    assert_eq!(p.max_height(), 720);
}

#[test]
fn renditions_for_a_small_source() {
    let p = shipped("default-1080p.yaml");
    let names = |w, h| -> Vec<String> {
        p.video_for_source(w, h)
            .iter()
            .map(|v| v.name.to_string())
            .collect()
    };
    assert_eq!(names(1280, 720), ["720p", "480p", "360p"]);
    assert_eq!(names(320, 180), ["360p"]);
    let mut up = p.clone();
    up.allow_upscale = true;
    assert_eq!(up.video_for_source(320, 180).len(), 4);
}

#[test]
fn missing_file_names_it() {
    let errs = LadderProfile::load(Path::new("/nonexistent/ladder.yaml")).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs.0[0].file, "/nonexistent/ladder.yaml");
    assert!(errs.0[0].message.contains("cannot read"), "{errs}");
}

#[test]
fn validate_files_reports_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    let binary = dir.path().join("binary.yaml");
    std::fs::write(
        &good,
        "name: good\nvideo:\n  - { name: a, width: 640, height: 360, bitrate: 700k }\n",
    )
    .unwrap();
    std::fs::write(
        &bad,
        "name: bad\nvideo:\n  - { name: a, width: 641, height: 360, bitrat: 700k }\n",
    )
    .unwrap();
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    let results = validate_files(&[good.clone(), bad.clone(), binary.clone()]);
    assert_eq!(results[0].0, good);
    assert!(results[0].1.is_ok());
    let errs = results[1].1.as_ref().unwrap_err();
    assert_eq!(errs.len(), 2, "{errs}");
    assert!(errs.iter().all(|e| e.file == bad.display().to_string()));
    assert!(results[2]
        .1
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("not UTF-8"));
}

#[test]
fn huge_documents_are_refused() {
    let text = format!(
        "name: big\ndescription: \"{}\"\n",
        "x".repeat(MAX_PROFILE_BYTES)
    );
    let errs = LadderProfile::from_yaml("big.yaml", &text).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs.0[0].message.contains("limit"), "{errs}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.yaml");
    std::fs::write(&path, &text).unwrap();
    let errs = LadderProfile::load(&path).unwrap_err();
    assert!(errs.0[0].message.contains("limit"), "{errs}");
}

#[test]
fn deep_nesting_does_not_overflow() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        for depth in [200, 100_000] {
            let text = format!(
                "name: deep\nvideo: {}{}\n",
                open.repeat(depth),
                close.repeat(depth)
            );
            let errs = LadderProfile::from_yaml("deep.yaml", &text).unwrap_err();
            assert_eq!(errs.len(), 1, "{errs}");
        }
    }
    // Block style nesting, just under the parser's limit, still walks fine.
    let mut text = String::from("name: deep\nvideo:\n");
    for i in 0..120 {
        text.push_str(&format!("{}- \n", "  ".repeat(i + 1)));
    }
    let errs = LadderProfile::from_yaml("deep.yaml", &text).unwrap_err();
    assert!(!errs.is_empty());
}

#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let errs = LadderProfile::from_yaml("bomb.yaml", &text).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs}");
}

#[test]
fn anchors_within_reason_work() {
    let yaml = "
name: anchors
video:
  - &base { name: 720p, width: 1280, height: 720, bitrate: 3M }
  - { name: 360p, width: 640, height: 360, bitrate: 700k }
";
    LadderProfile::from_yaml("a", yaml).unwrap();
}

#[test]
fn tagged_values_are_wrong_types() {
    let yaml = "name: t\nvideo:\n  - { name: a, width: !px 640, height: 360, bitrate: 700k }\n";
    let errs = LadderProfile::from_yaml("t", yaml).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs.0[0].path, "video[0].width");
}

#[test]
fn problem_list_is_capped() {
    let mut text = String::from("name: many\nvideo:\n");
    for i in 0..500 {
        text.push_str(&format!(
            "  - name: r{i}\n    width: 641\n    height: 360\n    bitrate: 700k\n"
        ));
    }
    let errs = LadderProfile::from_yaml("many.yaml", &text).unwrap_err();
    assert_eq!(errs.len(), livefleet_profile::MAX_REPORTED + 1);
    let last = errs.0.last().unwrap();
    assert!(last.message.contains("more problems"), "{last}");
}

#[test]
fn bracket_heavy_documents_are_refused_before_parsing() {
    let text = format!(
        "name: x\ndescription: \"{}\"\n",
        "[".repeat(livefleet_profile::MAX_FLOW_BRACKETS + 1)
    );
    let errs = LadderProfile::from_yaml("x.yaml", &text).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs.0[0].fix.contains("- key: value"), "{errs}");
}
