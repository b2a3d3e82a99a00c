//! Where one publish session ends and the next begins: the audio of the
//! first runs a little past its video (AAC frames of 1024 samples and the
//! encoder's padded last frame), so the next session starts after both.
//! Before, it started after the video alone, and its first audio overlapped
//! the end of the previous session's: the packager dropped a sample
//! ("decode time … is before the previous sample's") and the frames after it
//! overlapped on the timeline.

use super::*;

/// Each segment of `rendition`: (start, end) in seconds, from its `tfdt`
/// and sample durations, read with the init segment it names.
fn spans(dir: &Path, rendition: &str) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (init, segments) in periods(&dir.join(rendition)) {
        let scale = f64::from(timescale(
            &fs::read(dir.join(rendition).join(init)).unwrap(),
        ));
        for s in segments {
            let data = fs::read(dir.join(rendition).join(s)).unwrap();
            let start = tfdt(&data) as f64 / scale;
            out.push((start, start + segment_duration(&data) as f64 / scale));
        }
    }
    out
}

#[test]
fn sessions_follow_each_other_without_overlapping_audio() {
    let dev = Dev::start("seams", &["--grace", "8"]);
    // With audio, with audio again, then without (the audio renditions
    // carry silence).
    publish(&dev.publish_url, "640x360", 5, true, &[]);
    publish(&dev.publish_url, "640x360", 5, true, &[]);
    publish(&dev.publish_url, "640x360", 5, false, &[]);
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("audio/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let log = dev.log();
    assert!(
        !log.contains("sample dropped by the packager"),
        "a sample was dropped at a session's seam:\n{log}"
    );

    let (_, disc) = playlist_entries(&fs::read_to_string(dir.join("audio/index.m3u8")).unwrap());
    assert_eq!(disc.len(), 2, "one discontinuity per reconnect");
    let audio = spans(&dir, "audio");
    let video = spans(&dir, "360p");
    assert_eq!(audio.len(), video.len(), "{audio:?}\n{video:?}");
    for (i, pair) in audio.windows(2).enumerate() {
        let (end, next) = (pair[0].1, pair[1].0);
        assert!(
            next >= end - 1e-6,
            "audio segment {} starts at {next:.4} s, before the previous one ends ({end:.4} s)",
            i + 1
        );
        if !disc.contains(&(i + 1)) {
            assert!(
                (next - end).abs() < 1e-6,
                "a hole inside a session's audio at segment {}: {end:.4} to {next:.4}",
                i + 1
            );
        }
    }
    // Audio and video start together in every session.
    for &at in std::iter::once(&0).chain(&disc) {
        let (a, v) = (audio[at].0, video[at].0);
        assert!(
            (a - v).abs() < 0.05,
            "segment {at}: audio starts at {a:.4} s, video at {v:.4} s"
        );
    }
}
