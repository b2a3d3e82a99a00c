//! Inputs `transcode` refuses, and how it says so: no video, a codec
//! without a decoder, a missing or truncated file.

use super::*;

#[test]
fn input_without_video_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("audio.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000",
        "-t",
        "2",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(!r.status.success());
    assert!(
        text(&r.stderr).contains("no video stream"),
        "{}",
        text(&r.stderr)
    );
    assert!(!out.join("master.m3u8").exists());

    // A podcast's M4A with its artwork: the picture is a one-frame video
    // stream, not the video (it used to be taken for one, and the file was
    // then called truncated).
    let cover = tmp.path().join("cover.png");
    let picture = cover.to_str().unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x640",
        "-frames:v",
        "1",
        picture,
    ]);
    let podcast = tmp.path().join("podcast.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000",
        "-i",
        picture,
        "-t",
        "4",
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:a",
        "aac",
        "-c:v",
        "png",
        "-disposition:v",
        "attached_pic",
        podcast.to_str().unwrap(),
    ]);
    let r = transcode(&podcast, &profile("cpu-small.yaml"), &out);
    assert!(!r.status.success());
    let said = text(&r.stderr);
    assert!(
        said.contains("no video stream (only a still cover picture"),
        "{said}"
    );
    assert!(!said.contains("truncated"), "{said}");
    assert!(!out.join("master.m3u8").exists());
}

#[test]
fn unknown_video_codec_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let made = tmp.path().join("made.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x64:rate=5",
        "-t",
        "1",
        "-c:v",
        "libx264",
        made.to_str().unwrap(),
    ]);
    // The same file with a Matroska codec ID no FFmpeg decoder knows.
    let bytes = std::fs::read(&made).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"V_MPEG4/ISO/AVC")
        .expect("codec ID in the file");
    let mut odd = bytes.clone();
    odd[at..at + 15].copy_from_slice(b"V_QQQQQ/ISO/QQQ");
    let clip = tmp.path().join("odd.mkv");
    std::fs::write(&clip, odd).unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(!r.status.success());
    let err = text(&r.stderr);
    assert!(err.contains("is not supported"), "{err}");
    assert!(!out.join("master.m3u8").exists());
}

#[test]
fn missing_input_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let r = transcode(
        &tmp.path().join("nope.mp4"),
        &profile("cpu-small.yaml"),
        &tmp.path().join("out"),
    );
    assert!(!r.status.success());
    assert!(
        text(&r.stderr).contains("cannot open input"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn truncated_input_never_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 8);
    let bytes = fs::read(&clip).unwrap();
    let cut = tmp.path().join("cut.flv");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&cut, &profile("cpu-small.yaml"), &out);
    assert!(!r.status.success(), "a truncated input must fail");
    assert!(text(&r.stderr).contains("truncated"), "{}", text(&r.stderr));
    // Whatever was written stays a live (unfinished) presentation.
    for entry in walk(&out) {
        if entry.extension().is_some_and(|e| e == "m3u8") {
            assert!(
                !fs::read_to_string(&entry)
                    .unwrap()
                    .contains("#EXT-X-ENDLIST"),
                "{} has ENDLIST",
                entry.display()
            );
        }
    }
}
