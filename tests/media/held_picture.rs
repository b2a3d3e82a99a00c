//! Audio that goes on where the video does not: the renditions hold their
//! last picture, on the segment grid, so every track keeps 2 s segments
//! and players go on to the audio's end.

use super::*;

/// The `#EXTINF` durations of the playlist in `dir`.
fn durations(dir: &Path) -> Vec<f64> {
    segment_durations(&dir.join("index.m3u8"))
}

/// Every rendition's segments last about `segment` seconds (a frame's
/// play, a few AAC frames' for the audio), and there are `count` of them.
fn assert_even_segments(out: &Path, renditions: &[&str], count: usize) {
    for r in renditions {
        let d = durations(&out.join(r));
        assert_eq!(d.len(), count, "{r}: {d:?}");
        assert!(
            d.iter().all(|s| (s - 2.0).abs() <= 0.07),
            "{r}: segments of uneven length: {d:?}"
        );
    }
}

/// A 4 s clip with 10 s of audio: before, the video ended at 4 s and the
/// 6 s after went into one 8 s audio segment that players never reached.
#[test]
fn audio_past_the_end_of_the_video_holds_the_last_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("long-audio.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=4",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000:duration=10",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "60",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &out);
    assert_ok(&r);
    assert!(
        text(&r.stdout).contains("a picture held 6.0 s where the audio has no video"),
        "{}",
        text(&r.stdout)
    );
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 5);
    assert_even_segments(&out, &["360p", "240p", "audio"], 5);
    let v = probed_seconds(&out.join("360p/index.m3u8"));
    assert!(
        (v - 10.0).abs() < 0.1,
        "the video lasts {v} s, the audio 10 s"
    );
}

/// A live publisher whose video stops for 6 s while its audio goes on.
/// Before, the renditions had one 8 s segment across the stall, and the
/// audio one too: players waited 6 s at the live edge with the sound
/// arriving all along.
#[test]
fn a_live_video_stall_with_audio_going_on_holds_the_last_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("stall.flv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=14",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000:duration=14",
        "-vf",
        "select='not(between(t,4,10))'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let dev = Dev::start("stall", &["--grace", "4"]);
    // The audio of the stall goes out as it comes: the muxer waits at most
    // 0.1 s for a video packet to interleave with.
    let published = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(&clip)
        .args(["-c", "copy", "-max_interleave_delta", "100000", "-f", "flv"])
        .arg(&dev.publish_url)
        .stdin(Stdio::null()));
    assert!(published.status.success(), "{}", text(&published.stderr));
    let dir = dev.channel_dir();
    dev.wait_for(30, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("audio/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let (_, disc) = playlist_entries(&fs::read_to_string(dir.join("360p/index.m3u8")).unwrap());
    assert!(disc.is_empty(), "one session, no discontinuity: {disc:?}");
    // The segment where the video comes back may take a frame from the next.
    for r in ["360p", "240p", "audio"] {
        let d = durations(&dir.join(r));
        assert!(d.len() >= 6, "{r}: {d:?}");
        assert!(
            d.iter().all(|s| (s - 2.0).abs() <= 0.07),
            "{r}: a segment across the stall: {d:?}"
        );
    }
    check_presentation(&dir, &["360p", "240p"], "audio", 2.0, 6);
    assert!(
        dev.log().contains("holding the last picture"),
        "{}",
        dev.log()
    );
}

/// A video stream of one still frame under 10 s of audio (Matroska, where
/// the video stream declares no duration of its own): before, the input
/// was refused as truncated (`media ends at 0.00 s but the file declares
/// 10.02 s`), as its video was all that was measured.
#[test]
fn one_still_frame_under_10_s_of_audio_is_a_10_s_video() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("still.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000:duration=10",
        "-filter_complex",
        "[0:v]trim=end_frame=1[v]",
        "-map",
        "[v]",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &out);
    assert_ok(&r);
    assert!(
        text(&r.stdout).contains(", 1 frames,"),
        "{}",
        text(&r.stdout)
    );
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 5);
    let v = probed_seconds(&out.join("360p/index.m3u8"));
    assert!(
        (v - 10.0).abs() < 0.1,
        "the video lasts {v} s, the audio 10 s"
    );
}

/// Audio that starts before the video: an MPEG-TS capture whose first
/// keyframe comes 1.5 s after its audio, a Matroska file whose video
/// starts 3 s in. The first picture is held from the audio's start. Before,
/// the audio before it was cut (7.5 s of input gave 6 s), and the Matroska
/// file was refused as truncated (`media ends at 6.00 s but the file
/// declares 9.02 s`).
#[test]
fn audio_before_the_first_picture_holds_it_from_the_audio_s_start() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, lead, secs) in [("lead.ts", "1.5", 7.5), ("lead.mkv", "3", 9.0)] {
        let clip = tmp.path().join(name);
        let audio = format!("sine=sample_rate=48000:duration={secs}");
        ffmpeg(&[
            "-itsoffset",
            lead,
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=6",
            "-f",
            "lavfi",
            "-i",
            &audio,
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-c:a",
            "aac",
            clip.to_str().unwrap(),
        ]);
        let out = tmp.path().join(format!("{name}.out"));
        assert_ok(&transcode(&clip, &out));
        check_presentation(&out, &["360p", "240p"], "audio", 2.0, 4);
        for r in ["360p", "audio"] {
            let d = probed_seconds(&out.join(r).join("index.m3u8"));
            assert!(
                (d - secs).abs() < 0.1,
                "{name}: {r} lasts {d} s, the audio {secs} s"
            );
        }
    }
}
