//! `livefleet transcode` end to end: a real clip made with the ffmpeg CLI,
//! transcoded with a shipped profile, read back by ffmpeg/ffprobe and by
//! third-party HLS and DASH parsers. Inputs refused (`refusals.rs`), odd
//! inputs that real files are (`odd_inputs.rs`), sources faster than the
//! ladder (`frame_rates.rs`), the preview picture (`thumbnail.rs`), the storyboard (`storyboard.rs`).

#[path = "../common/mod.rs"]
mod common;
mod frame_rates;
mod odd_inputs;
mod refusals;
mod storyboard;
mod thumbnail;

use std::fs;
use std::path::Path;

use common::*;

pub(crate) fn transcode(input: &Path, profile: &Path, out: &Path) -> std::process::Output {
    run(livefleet()
        .arg("transcode")
        .arg(input)
        .arg("--profile")
        .arg(profile)
        .arg("--out")
        .arg(out))
}

#[test]
fn small_ladder_is_aligned_decodable_and_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 12);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(
        r.status.success(),
        "transcode failed: {}{}",
        text(&r.stdout),
        text(&r.stderr)
    );

    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 6);

    // ffmpeg reads both manifests to the end, every stream, without an error.
    for manifest in ["master.m3u8", "manifest.mpd"] {
        let errors = decode_errors(&out.join(manifest));
        assert!(errors.trim().is_empty(), "{manifest}: {errors}");
        let d = probed_seconds(&out.join(manifest));
        assert!(
            (d - 12.0).abs() < 0.6,
            "{manifest} lasts {d} s, the input 12 s"
        );
    }
}

#[test]
fn corrupt_frames_mid_stream_are_concealed_and_the_output_stays_playable() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.ts");
    make_clip(&clip, 8);
    let mut bytes = fs::read(&clip).unwrap();
    // Scramble payload bytes of a few TS packets in the middle, keeping the sync bytes.
    let mid = bytes.len() / 2 / 188 * 188;
    for p in 0..6 {
        let at = mid + p * 188 * 7;
        for b in &mut bytes[at + 8..at + 188] {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
    }
    let bad = tmp.path().join("bad.ts");
    fs::write(&bad, &bytes).unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&bad, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
    assert!(fs::read_to_string(out.join("360p/index.m3u8"))
        .unwrap()
        .contains("#EXT-X-ENDLIST"));
}

pub(crate) fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn ffmpeg_log_lines_go_through_tracing_never_raw_to_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    make_clip(&clip, 3);
    let r = transcode(&clip, &profile("cpu-small.yaml"), &tmp.path().join("out"));
    assert!(r.status.success(), "{}", text(&r.stderr));
    let raw: Vec<String> = text(&r.stderr)
        .lines()
        .filter(|l| l.starts_with('['))
        .map(str::to_owned)
        .collect();
    assert!(raw.is_empty(), "raw FFmpeg lines on stderr: {raw:?}");
    // Asked for, the encoder banners come as tracing events of the `ffmpeg` target.
    let r = run(livefleet()
        .env("RUST_LOG", "ffmpeg=debug")
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(tmp.path().join("out2")));
    let err = text(&r.stderr);
    assert!(
        err.lines()
            .any(|l| l.contains("DEBUG") && l.contains("ffmpeg") && l.contains("[libx264 @")),
        "{err}"
    );
}

/// Ctrl-C on a transcode of an input that does not end (a live feed through
/// a pipe) stops it and finishes the output as a complete VOD of what was
/// transcoded, as the ffmpeg CLI finishes its file; the exit status (130)
/// and the last line say it was interrupted, and where.
#[test]
fn ctrl_c_finishes_the_output_with_what_was_transcoded() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed.ts");
    assert!(std::process::Command::new("mkfifo")
        .arg(&feed)
        .status()
        .unwrap()
        .success());
    // A live feed at real time: MPEG-TS into the pipe until the reader goes.
    let mut publisher = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "120",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
        ])
        .args(["-c:a", "aac", "-f", "mpegts"])
        .arg(&feed)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = tmp.path().join("out");
    let transcode = livefleet()
        .arg("transcode")
        .arg(&feed)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let written = |dir: &Path| fs::read_dir(dir).map_or(0, |d| d.count());
    while written(&out.join("360p")) < 4 {
        assert!(std::time::Instant::now() < deadline, "no segments in 60 s");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SAFETY: a plain kill(2) of the child we spawned.
    unsafe { libc::kill(transcode.id() as libc::pid_t, libc::SIGINT) };
    let r = transcode.wait_with_output().unwrap();
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert_eq!(r.status.code(), Some(130), "{}", text(&r.stderr));
    let said = text(&r.stderr);
    let line = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(line.starts_with("interrupted at "), "{line}");
    let seconds: f64 = line["interrupted at ".len()..]
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(seconds >= 4.0, "{line}");

    // A complete VOD of those seconds: ENDLIST everywhere, a static MPD,
    // aligned segments that decode, and ffmpeg reads it to the end.
    for playlist in ["360p", "240p", "audio"] {
        let p = fs::read_to_string(out.join(playlist).join("index.m3u8")).unwrap();
        assert!(p.contains("#EXT-X-ENDLIST"), "{playlist}: {p}");
    }
    let mpd = fs::read_to_string(out.join("manifest.mpd")).unwrap();
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 2);
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
    let lasts = probed_seconds(&out.join("master.m3u8"));
    assert!(
        (lasts - seconds).abs() < 0.6,
        "the VOD lasts {lasts} s, the transcode said {seconds} s"
    );
}

/// A GPU that fails in the middle of a file (here a failpoint standing in
/// for NVDEC refusing a packet) moves the transcode to the next video path,
/// and what was in flight is lost. Before, the transcode then measured the
/// last session's media alone (2 of 8 s), called the input truncated and
/// left the output unfinished. The input is judged by what was read, and
/// the summary says what the output lost.
#[test]
fn a_gpu_failure_mid_file_finishes_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    make_clip(&clip, 8);
    let out = tmp.path().join("out");
    let r = run(livefleet()
        .env("LIVEFLEET_FAILPOINT", "gpu-decode@120")
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(&out));
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(
        text(&r.stderr).contains("a GPU piece failed"),
        "{}",
        text(&r.stderr)
    );
    let said = text(&r.stdout);
    let media: f64 = said
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(" s of media").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    assert!((5.5..=8.1).contains(&media), "{said}");
    if media < 7.5 {
        assert!(
            said.contains("of the input lost where the video path changed"),
            "{said}"
        );
    }
    for playlist in ["360p/index.m3u8", "audio/index.m3u8"] {
        let text = fs::read_to_string(out.join(playlist)).unwrap();
        assert!(text.contains("#EXT-X-ENDLIST"), "{playlist}: {text}");
    }
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}

/// `-` reads standard input, as the ffmpeg CLI does (`curl URL | livefleet
/// transcode - ...`). Before, it was taken for a file named `-`.
#[test]
fn a_dash_reads_standard_input() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.ts");
    make_clip_with(
        &clip,
        3,
        &["-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts"],
    );
    let out = tmp.path().join("out");
    let r = run(livefleet()
        .args(["transcode", "-", "--profile"])
        .arg(profile("cpu-small.yaml"))
        .arg("--out")
        .arg(&out)
        .stdin(fs::File::open(&clip).unwrap()));
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(
        text(&r.stdout).contains("3.0 s of media, 90 frames"),
        "{}",
        text(&r.stdout)
    );
    let errors = decode_errors(&out.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}
