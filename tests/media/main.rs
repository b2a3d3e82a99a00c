//! Media that real publishers and files send, end to end: timestamps that
//! start far from zero, variable frame rate, a publisher that comes back
//! with another resolution, audio that starts late or only after a
//! reconnect, RTMP timestamps that wrap at 2^32 ms, audio in MP3 or G.711,
//! HEVC and AV1 over Enhanced RTMP, copies of what the source is, HDR
//! sources tone mapped for the ladder, colour descriptions, closed captions,
//! the seams between publish sessions, audio that goes on where the video
//! does not. Inputs are
//! made with the ffmpeg CLI; outputs are read back by ffmpeg and the manifest
//! parsers.

mod captions;
mod colour;
#[path = "../common/mod.rs"]
mod common;
mod enhanced_rtmp;
mod hdr;
mod held_picture;
mod older_audio;
mod orientation;
mod passthrough;
mod session_seams;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn transcode(input: &Path, out: &Path) -> std::process::Output {
    run(livefleet()
        .arg("transcode")
        .arg(input)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(out))
}

fn assert_ok(r: &std::process::Output) {
    assert!(
        r.status.success(),
        "transcode failed: {}{}",
        text(&r.stdout),
        text(&r.stderr)
    );
}

/// A `secs`-second 640x360 30 fps clip (testsrc2, and `sine` as the audio
/// input) made with `extra` output options, H.264 veryfast + AAC.
fn lavfi_clip(path: &Path, secs: u32, sine: &str, extra: &[&str]) {
    let t = secs.to_string();
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        sine,
        "-t",
        &t,
    ];
    args.extend_from_slice(extra);
    args.extend(["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

/// The init segment the playlist in `dir` names last, and what ffprobe's
/// `-show_entries <entries>` (csv) says of its last segment decoded with it.
fn probe_last_segment(dir: &Path, entries: &str) -> (String, String) {
    let playlist = fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let map = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .next_back()
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let last = playlist
        .lines()
        .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap()
        .to_string();
    let joined = tempfile::NamedTempFile::new().unwrap();
    fs::write(
        joined.path(),
        [
            fs::read(dir.join(&map)).unwrap(),
            fs::read(dir.join(&last)).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let probe = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", entries, "-of", "csv=p=0"])
        .arg(joined.path()));
    (map, text(&probe.stdout).trim().to_string())
}

/// The width of the last segment of `rendition` decoded with the init
/// segment its playlist names for it.
fn last_segment_width(dir: &Path) -> (String, u32) {
    let (map, width) = probe_last_segment(dir, "stream=width");
    (map, width.parse().unwrap_or(0))
}

#[test]
fn a_file_whose_timestamps_start_at_30_s_is_decided_by_its_media() {
    // The container declares 36 s (its edit list starts at 30 s) for 6 s of media.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("offset.mp4");
    lavfi_clip(
        &clip,
        8,
        "sine=sample_rate=48000",
        &["-g", "60", "-output_ts_offset", "30"],
    );
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 4);
    let d = probed_seconds(&out.join("master.m3u8"));
    assert!((d - 8.0).abs() < 0.6, "the VOD lasts {d} s, the media 8 s");
}

#[test]
fn variable_frame_rate_input_keeps_its_timing() {
    // 30 fps for 2 s, then every third frame (10 fps): timestamps, not a rate, tell the time.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("vfr.mp4");
    lavfi_clip(
        &clip,
        10,
        "sine=sample_rate=48000",
        &[
            "-vf",
            "select='lt(n\\,60)+not(mod(n\\,3))'",
            "-fps_mode",
            "vfr",
        ],
    );
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 5);
    let d = probed_seconds(&out.join("master.m3u8"));
    assert!(
        (d - 10.0).abs() < 0.6,
        "the VOD lasts {d} s, the input 10 s"
    );
    // The holes are filled: every rendition runs at the source's base rate of 30 fps.
    for r in ["360p", "240p"] {
        assert_constant_rate(&out.join(r), 3000);
    }
}

#[test]
fn jittery_timestamps_come_out_at_a_constant_rate() {
    // A publisher short of CPU: each frame up to 12 ms late or early.
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("jitter.mkv");
    lavfi_clip(
        &clip,
        8,
        "sine=sample_rate=48000",
        &[
            "-vf",
            "settb=1/1000,setpts='N/30/TB+(random(0)-0.5)*0.024/TB'",
            "-fps_mode",
            "passthrough",
            "-enc_time_base:v",
            "1:1000",
            "-g",
            "60",
        ],
    );
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 4);
    for r in ["360p", "240p"] {
        assert_constant_rate(&out.join(r), 3000);
    }
}

/// Every frame of the rendition in `dir` (init + numbered segments) lasts `ticks` (90 kHz).
fn assert_constant_rate(dir: &Path, ticks: i64) {
    let mut bytes = fs::read(dir.join("init.mp4")).unwrap();
    for (_, seg) in segments(dir) {
        bytes.extend(fs::read(seg).unwrap());
    }
    let joined = dir.with_extension("joined.mp4");
    fs::write(&joined, bytes).unwrap();
    let probe = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["packet=dts", "-of", "csv=p=0"])
        .arg(&joined));
    let dts: Vec<i64> = text(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(dts.len() > 30, "{} frames in {}", dts.len(), dir.display());
    let odd: Vec<(usize, i64)> = dts
        .windows(2)
        .map(|w| w[1] - w[0])
        .enumerate()
        .filter(|(_, d)| *d != ticks)
        .collect();
    assert!(
        odd.is_empty(),
        "{}: frames not {ticks} ticks apart (index, step): {odd:?}",
        dir.display()
    );
}

#[test]
fn audio_that_starts_3_s_late_is_preceded_by_silence() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("late-audio.mp4");
    lavfi_clip(
        &clip,
        10,
        "sine=sample_rate=48000:duration=7",
        &[
            "-filter_complex",
            "[1:a]adelay=3000:all=1[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
            "-g",
            "60",
        ],
    );
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    // Audio starts with video in segment 0 and lasts as long.
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 5);
    let a = probed_seconds(&out.join("audio/index.m3u8"));
    assert!((a - 10.0).abs() < 0.3, "audio lasts {a} s, video 10 s");
}

/// Audio that stops 3 s before the video (a file whose audio track is
/// shorter; an input cut between the two tracks' packets) ends in silence
/// where the video goes on. Before, the audio playlist lacked the last
/// segments (3 against 4), and players stalled where it ran out.
#[test]
fn audio_that_stops_3_s_early_is_followed_by_silence() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("early-end.mp4");
    lavfi_clip(&clip, 8, "sine=sample_rate=48000:duration=5", &["-g", "60"]);
    let out = tmp.path().join("out");
    assert_ok(&transcode(&clip, &out));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 4);
    let a = probed_seconds(&out.join("audio/index.m3u8"));
    assert!((a - 8.0).abs() < 0.3, "audio lasts {a} s, video 8 s");
}

/// A `dev` with a passthrough rendition and a 240p one.
fn passthrough_dev(channel: &str, tmp: &Path) -> Dev {
    let prof = passthrough_profile(tmp);
    Dev::start(
        channel,
        &["--grace", "8", "--profile", prof.to_str().unwrap()],
    )
}

/// Publishes `secs` of `size` at real time; `audio` false publishes video only.
fn publish(url: &str, size: &str, secs: u32, audio: bool, extra: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ]);
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=sample_rate=48000"]);
    }
    cmd.args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(if audio {
            vec!["-c:a", "aac"]
        } else {
            vec!["-an"]
        })
        .args(extra)
        .args(["-f", "flv", url])
        .stdin(Stdio::null());
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "publisher failed: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_publisher_back_with_another_resolution_gets_new_init_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = passthrough_dev("resize", tmp.path());
    publish(&dev.publish_url, "640x360", 7, true, &[]);
    publish(&dev.publish_url, "854x480", 7, true, &[]);
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("source/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let playlist = fs::read_to_string(dir.join("source/index.m3u8")).unwrap();
    let (_, disc) = playlist_entries(&playlist);
    assert_eq!(disc.len(), 1, "one discontinuity: {playlist}");
    // The passthrough copies the new source: its last segment decodes at 854 wide with the new init.
    let (map, width) = last_segment_width(&dir.join("source"));
    assert_ne!(
        map, "init.mp4",
        "the second session needs its own init segment"
    );
    assert_eq!(width, 854, "passthrough after the reconnect: {playlist}");
    // The encoded rendition keeps its size, with a new init of the same generation.
    let (map, width) = last_segment_width(&dir.join("240p"));
    assert_ne!(map, "init.mp4");
    assert_eq!(width, 426);
    // The first session still plays with the first init segment.
    assert!(
        playlist.contains("#EXT-X-MAP:URI=\"init.mp4\""),
        "{playlist}"
    );
    // DASH: two periods, each naming its own init segment.
    let mpd = fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert_eq!(mpd.matches("<Period").count(), 2, "{mpd}");
    assert!(
        mpd.contains("initialization=\"$RepresentationID$/init.mp4\"")
            && mpd.contains(&format!("initialization=\"$RepresentationID$/{map}\"")),
        "{mpd}"
    );
    // Each period decodes with its own init segment. (FFmpeg's HLS demuxer
    // keeps the first init's codec configuration across an EXT-X-MAP change,
    // so the playlist as a whole is checked per period.)
    for rendition in ["source", "240p"] {
        for (map, segments) in periods(&dir.join(rendition)) {
            let joined = tmp.path().join(format!("{rendition}-{map}"));
            let mut bytes = fs::read(dir.join(rendition).join(&map)).unwrap();
            for s in &segments {
                bytes.extend(fs::read(dir.join(rendition).join(s)).unwrap());
            }
            fs::write(&joined, bytes).unwrap();
            let errors = decode_errors(&joined);
            assert!(errors.trim().is_empty(), "{rendition} with {map}: {errors}");
        }
    }
}

/// The segments of a media playlist grouped by the init segment (EXT-X-MAP) they need.
fn periods(dir: &Path) -> Vec<(String, Vec<String>)> {
    let playlist = fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in playlist.lines() {
        if let Some(uri) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            out.push((uri.trim_end_matches('"').to_string(), Vec::new()));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.last_mut().unwrap().1.push(line.trim().to_string());
        }
    }
    out
}

#[test]
fn audio_only_after_a_reconnect_is_kept_and_the_first_session_is_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = Dev::start("noaudio", &["--grace", "8"]);
    publish(&dev.publish_url, "640x360", 7, false, &[]);
    publish(&dev.publish_url, "640x360", 7, true, &[]);
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("audio/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let video = fs::read_to_string(dir.join("360p/index.m3u8")).unwrap();
    let audio = fs::read_to_string(dir.join("audio/index.m3u8")).unwrap();
    let (v, _) = playlist_entries(&video);
    let (a, disc) = playlist_entries(&audio);
    assert_eq!(a, v, "audio has a segment for every video segment: {audio}");
    assert_eq!(disc.len(), 1, "{audio}");
    // The second session's audio is the sine, not silence: its level is far above silence.
    let last = dir.join("audio").join(a.last().unwrap());
    let joined = tmp.path().join("last.mp4");
    fs::write(
        &joined,
        [
            fs::read(dir.join("audio/init.mp4")).unwrap(),
            fs::read(last).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let mean = mean_volume(&joined);
    assert!(mean > -40.0, "the reconnect's audio is missing: {mean} dB");
    let errors = decode_errors(&dir.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
    drop(tmp);
}

#[test]
fn a_publish_whose_timestamps_start_at_24_days_continues_without_a_jump() {
    // A restream that keeps its source's clock (`-copyts`): media stamped near
    // 2^31 ms, sequence headers stamped 0. (FFmpeg's FLV muxer writes signed
    // 31-bit timestamps, so the 2^32 wrap itself is covered by the ingest's
    // timeline tests, crates/flv/src/timeline.rs.)
    let dev = Dev::start("bigts", &["--grace", "2"]);
    publish(
        &dev.publish_url,
        "640x360",
        12,
        true,
        &["-output_ts_offset", "2147470"],
    );
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("360p/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let playlist = fs::read_to_string(dir.join("360p/index.m3u8")).unwrap();
    let (uris, disc) = playlist_entries(&playlist);
    assert!(disc.is_empty(), "one continuous session: {playlist}");
    assert!(uris.len() >= 5, "{playlist}");
    assert!(!dev.log().contains("timestamp jumped"), "{}", dev.log());
    check_presentation(&dir, &["360p", "240p"], "audio", 2.0, 5);
}

/// A live 59.94 fps publish (its rate taken from RTMP's millisecond stamps
/// as 60) into one rendition at the source's rate and one capped at 30: every
/// segment starts at one instant in both. Before, the source drifted against
/// the 60 fps grid, the two renditions placed a segment's first frame on
/// different slots, and from about 10 s on their segments started 16.7 ms
/// apart.
#[test]
fn a_live_59_94_publish_keeps_its_renditions_in_line() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("two-rates.yaml");
    fs::write(
        &profile,
        "name: two-rates\nsegment_duration: 2\ngop: 2\nencoder: x264\npreset: p1\nallow_cpu: true\nvideo:\n  - name: full\n    width: 640\n    height: 360\n    bitrate: 900k\n    frame_rate: source\n  - name: half\n    width: 426\n    height: 240\n    bitrate: 300k\n    frame_rate: 30\naudio:\n  - name: audio\n    bitrate: 96k\n    channels: 2\n    sample_rate: 48000\n",
    )
    .unwrap();
    let dev = Dev::start(
        "rates",
        &["--profile", profile.to_str().unwrap(), "--grace", "2"],
    );
    publish(
        &dev.publish_url,
        "640x360",
        16,
        true,
        &["-vf", "fps=60000/1001"],
    );
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("half/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    check_presentation(&dir, &["full", "half"], "audio", 2.0, 6);
}
