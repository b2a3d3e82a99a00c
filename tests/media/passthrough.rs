//! Passthrough renditions: the source copied beside the encoded ones, as
//! players must show it (its display matrix, the shape of its pixels) and
//! in its own codec (H.264 or HEVC).

use super::orientation::{
    assert_shown_as_the_cli_shows, first_segment_file, make_clip, sideways_clip,
};
use super::*;

/// `clip` through [`passthrough_profile`] into `out`.
pub(super) fn transcode_with_passthrough(clip: &Path, out: &Path, tmp: &Path) {
    assert_ok(&run(livefleet()
        .arg("transcode")
        .arg(clip)
        .arg("--profile")
        .arg(passthrough_profile(tmp))
        .arg("--out")
        .arg(out)));
}

/// Asserts that the master playlist and the MPD declare the copy at `size`
/// and the 240p rendition at `encoded`, and that the copy's init segment
/// and last segment say `entries` as the source does.
fn assert_copy_declared(out: &Path, clip: &Path, size: &str, encoded: &str, entries: &str) {
    check_presentation(out, &["source", "240p"], "audio", 2.0, 2);
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    for s in [size, encoded] {
        assert!(
            master.contains(&format!("RESOLUTION={s}")),
            "{s} missing:\n{master}"
        );
    }
    let (w, h) = size.split_once('x').unwrap();
    let mpd = fs::read_to_string(out.join("manifest.mpd")).unwrap();
    assert!(
        mpd.lines().any(|l| l.contains(r#"id="source" "#)
            && l.contains(&format!(r#"width="{w}" height="{h}""#))),
        "the MPD's source is not {size}:\n{mpd}"
    );
    let (_, copy) = probe_last_segment(&out.join("source"), entries);
    let source = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(clip));
    assert_eq!(copy, text(&source.stdout).trim());
}

#[test]
fn a_passthrough_of_a_file_recorded_on_its_side_carries_its_turn() {
    // The copy keeps the coded pictures; its init segment carries the
    // source's display matrix, so players show it upright like the encoded
    // renditions, and the manifests declare it as shown.
    let tmp = tempfile::tempdir().unwrap();
    let clip = sideways_clip(tmp.path());
    let out = tmp.path().join("out");
    transcode_with_passthrough(&clip, &out, tmp.path());
    let entries = "stream=width,height:stream_side_data=rotation";
    assert_copy_declared(&out, &clip, "360x640", "240x426", entries);
    let ours = first_segment_file(&out.join("source"), tmp.path());
    assert_shown_as_the_cli_shows(&clip, &ours, tmp.path());
}

#[test]
fn a_passthrough_of_non_square_pixels_keeps_their_shape() {
    // 480x360 stored at 4:3, a 16:9 picture: the copy's `pasp` says 4:3
    // (not 1:1, which players would show squeezed), and it is declared
    // 640x360 like the picture the encoded renditions make of it.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("anamorphic.mp4");
    make_clip(
        &clip,
        "testsrc2=size=480x360:rate=30,setsar=4/3",
        true,
        &["-g", "60"],
    );
    let out = tmp.path().join("out");
    transcode_with_passthrough(&clip, &out, tmp.path());
    let entries = "stream=width,height,sample_aspect_ratio,display_aspect_ratio";
    assert_copy_declared(&out, &clip, "640x360", "426x240", entries);
}

#[test]
fn an_hevc_file_is_copied_as_hevc_beside_the_h264_renditions() {
    // A phone records HEVC: the copy keeps it (hvc1, the source's own
    // parameter sets), the master lists it with its CODECS so players
    // without HEVC pick the H.264 variants, and the MPD gives it an
    // adaptation set of its own.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("hevc.mp4");
    make_clip_with(&clip, 4, &HEVC);
    let out = tmp.path().join("out");
    transcode_with_passthrough(&clip, &out, tmp.path());
    let entries = "stream=codec_name,codec_tag_string,width,height";
    assert_copy_declared(&out, &clip, "640x360", "426x240", entries);
    let errors = decode_errors(&out.join("source/index.m3u8"));
    assert!(
        errors.is_empty(),
        "the copy does not decode cleanly: {errors}"
    );
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(master.contains("CODECS=\"hvc1."), "{master}");
    let mpd = fs::read_to_string(out.join("manifest.mpd")).unwrap();
    let video_sets = mpd.matches("contentType=\"video\"").count();
    assert_eq!(video_sets, 2, "one adaptation set per codec:\n{mpd}");
}

#[test]
fn a_passthrough_of_a_codec_the_packager_does_not_carry_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("mpeg4.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-t",
        "2",
        "-c:v",
        "mpeg4",
        clip.to_str().unwrap(),
    ]);
    let profile = passthrough_profile(tmp.path());
    let r = run(livefleet()
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(tmp.path().join("out")));
    assert!(!r.status.success());
    let err = text(&r.stderr);
    assert!(
        err.contains("passthrough copies H.264, HEVC or AV1; this source is MPEG4"),
        "{err}"
    );
}

/// A copied (not encoded) AAC rendition has silence where the source has
/// no audio, as the encoded ones do: after audio that stops 3 s before the
/// video, and before audio that starts 3 s after it. Before, the copy's
/// playlist ended with a 1 s segment (players stalled there), or began 3 s
/// late.
#[test]
fn a_copied_audio_rendition_is_silent_where_the_source_has_no_audio() {
    let tmp = tempfile::tempdir().unwrap();
    let prof = tmp.path().join("copy-audio.yaml");
    fs::write(
        &prof,
        "name: copy-audio\nsegment_duration: 2\ngop: 2\nencoder: x264\nallow_cpu: true\n\
         video:\n  - name: 240p\n    width: 426\n    height: 240\n    bitrate: 300k\n\
         audio:\n  - name: audio\n    bitrate: 128k\n    channels: 2\n    sample_rate: 48000\n    passthrough: true\n",
    )
    .unwrap();
    let sine = "sine=sample_rate=48000:duration=5";
    let cases: [(&str, &[&str]); 2] = [("early-end", &[]), ("late-start", &["-itsoffset", "3"])];
    for (name, offset) in cases {
        let clip = tmp.path().join(format!("{name}.mp4"));
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=8",
        ];
        args.extend_from_slice(offset);
        args.extend(["-f", "lavfi", "-i", sine, "-map", "0:v", "-map", "1:a"]);
        args.extend(["-c:v", "libx264", "-preset", "ultrafast", "-g", "60"]);
        args.extend(["-c:a", "aac", "-ac", "2", clip.to_str().unwrap()]);
        ffmpeg(&args);
        let out = tmp.path().join(name);
        let r = run(livefleet()
            .arg("transcode")
            .arg(&clip)
            .arg("--profile")
            .arg(&prof)
            .arg("--out")
            .arg(&out));
        assert_ok(&r);
        assert!(
            !text(&r.stderr).contains("encoding instead"),
            "{name}: the audio was not copied: {}",
            text(&r.stderr)
        );
        check_presentation(&out, &["240p"], "audio", 2.0, 4);
        let durations = segment_durations(&out.join("audio/index.m3u8"));
        assert!(
            durations.len() == 4 && durations.iter().all(|d| (d - 2.0).abs() < 0.07),
            "{name}: audio segments {durations:?}"
        );
        let audio = out.join("audio/index.m3u8");
        assert_eq!(decode_errors(&audio), "", "{name}: the copy decodes");
        assert!(
            mean_volume(&audio) > -40.0,
            "{name}: the source's sound is there"
        );
    }
}

/// A ladder that only copies the source decodes its keyframes alone: they
/// make the preview picture, and no rendition needs the others. Before,
/// every frame was decoded for nothing. The audio rendition, paced by the
/// video where the source's audio is missing, still covers the whole copy.
#[test]
fn a_ladder_that_only_copies_decodes_keyframes_alone_and_keeps_its_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let prof = tmp.path().join("copy-only.yaml");
    fs::write(
        &prof,
        "name: copy-only\nsegment_duration: 2\ngop: 2\nencoder: x264\nallow_cpu: true\n\
         video:\n  - name: source\n    passthrough: true\n\
         audio:\n  - name: audio\n    bitrate: 96k\n    channels: 2\n    sample_rate: 48000\n",
    )
    .unwrap();
    let dev = Dev::start(
        "copyonly",
        &["--grace", "2", "--profile", prof.to_str().unwrap()],
    );
    let publisher = Publisher::ffmpeg(&dev.publish_url, 8);
    let counter = |metrics: &str, name: &str| -> f64 {
        let prefix = format!("{name}{{channel=\"copyonly\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let mut seen = (0.0, 0.0);
    dev.wait_for(30, "150 frames copied", || {
        let metrics = text(&http_get(&format!("{}/metrics", dev.http)).2);
        seen = (
            counter(&metrics, "livefleet_worker_frames_copied_total"),
            counter(&metrics, "livefleet_worker_frames_decoded_total"),
        );
        seen.0 >= 150.0
    });
    let (copied, decoded) = seen;
    // One keyframe a second (2 s GOP at 30 fps: one in 60), plus the frames
    // decoded before the first picture came out.
    assert!(
        (1.0..=copied / 10.0).contains(&decoded),
        "{decoded} frames decoded for {copied} copied"
    );
    let (status, _, picture) = http_get(&dev.url("thumbnail.jpg"));
    assert_eq!(status, 200, "no preview picture");
    assert_eq!(jpeg_size(&picture), Some((640, 360)));
    let (ok, err) = publisher.finish();
    assert!(ok, "{err}");
    let dir = dev.channel_dir();
    dev.wait_for(30, "the broadcast's end", || broadcast_ended(&dir));
    check_presentation(&dir, &["source"], "audio", 2.0, 4);
    let video: f64 = segment_durations(&dir.join("source/index.m3u8"))
        .iter()
        .sum();
    let audio: f64 = segment_durations(&dir.join("audio/index.m3u8"))
        .iter()
        .sum();
    assert!(
        (video - audio).abs() < 0.1 && video > 7.5,
        "video {video} s, audio {audio} s"
    );
}
