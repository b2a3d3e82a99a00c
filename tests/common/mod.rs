//! Test harness shared by the integration tests: makes media with the ffmpeg
//! CLI, runs the `livefleet` binary, and reads our output with third-party
//! tools (ffmpeg/ffprobe, python's m3u8 and mpegdash packages) and a small
//! MP4 box reader.
#![allow(dead_code)]

pub mod captions;
pub mod cluster;
mod dev;
pub mod enhanced_rtmp;
mod fleet;
mod mp4;
mod ports;
pub mod s3;
pub mod spike;
mod stored;
mod storyboard;

// Not every test crate uses every part.
#[allow(unused_imports)]
pub use dev::{Dev, Publisher};
#[allow(unused_imports)]
pub use fleet::{number, playlist, Fleet};
#[allow(unused_imports)]
pub use mp4::*;
pub use ports::free_port;
#[allow(unused_imports)]
pub use stored::*;
#[allow(unused_imports)]
pub use storyboard::*;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A child process with its log; killed on drop.
pub struct Proc {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, log: PathBuf) -> Proc {
        let child = cmd
            .env(
                "RUST_LOG",
                std::env::var("LIVEFLEET_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Proc { child, log }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The livefleet binary cargo built for these tests.
pub fn livefleet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_livefleet"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn profile(name: &str) -> PathBuf {
    repo().join("ladder-profiles").join(name)
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ffmpeg` with the given arguments; panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args));
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        text(&out.stderr)
    );
}

/// ffmpeg's output options for H.264 with B-frames and a 2 s GOP at 30 fps.
pub const H264: [&str; 14] = [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-bf",
    "2",
    "-g",
    "60",
    "-keyint_min",
    "60",
    "-sc_threshold",
    "0",
    "-pix_fmt",
    "yuv420p",
];

/// ffmpeg's output options for HEVC as a phone or OBS's HEVC encoder makes
/// it: closed GOPs (a passthrough needs them), a keyframe every 2 s at 30 fps.
pub const HEVC: [&str; 8] = [
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-x265-params",
    "keyint=60:min-keyint=60:open-gop=0:log-level=error",
    "-tag:v",
    "hvc1",
];

/// ffmpeg's output options for AV1 as OBS's SVT-AV1 encoder makes it: a key
/// frame (a closed GOP) every 2 s at 30 fps.
pub const AV1: [&str; 6] = ["-c:v", "libsvtav1", "-preset", "12", "-g", "60"];

/// A `secs`-second 640x360 30 fps clip: testsrc2 + sine, H.264 with B-frames and a
/// 2 s GOP, AAC, in the container the extension names.
pub fn make_clip(path: &Path, secs: u32) {
    make_clip_with(path, secs, &H264);
}

/// A `secs`-second 640x360 30 fps clip: testsrc2 encoded with the `video`
/// output options, a sine as AAC.
pub fn make_clip_with(path: &Path, secs: u32, video: &[&str]) {
    let t = secs.to_string();
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &t,
    ];
    args.extend_from_slice(video);
    args.extend([
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        path.to_str().expect("utf-8 path"),
    ]);
    ffmpeg(&args);
}

/// Writes a ladder profile into `dir`: the source copied (`source`), a 240p
/// rendition and AAC, 2 s segments. Its path.
pub fn passthrough_profile(dir: &Path) -> PathBuf {
    let path = dir.join("passthrough.yaml");
    fs::write(
        &path,
        "name: copy\nsegment_duration: 2\ngop: 2\nencoder: x264\npreset: p1\nallow_cpu: true\n\
         video:\n  - name: source\n    passthrough: true\n  - name: 240p\n    width: 426\n    height: 240\n    bitrate: 300k\n\
         audio:\n  - name: audio\n    bitrate: 96k\n    channels: 2\n    sample_rate: 48000\n",
    )
    .unwrap();
    path
}

/// The mean level (dB) ffmpeg's volumedetect reads from a file; -91 for
/// silence or nothing decoded.
pub fn mean_volume(file: &Path) -> f64 {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(file)
        .args(["-af", "volumedetect", "-f", "null", "-"]));
    text(&out.stderr)
        .lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|s| s.trim().trim_end_matches(" dB").parse().ok())
        .unwrap_or(-91.0)
}

/// Seconds of media ffprobe reads from a manifest (or any input).
pub fn probed_seconds(manifest: &Path) -> f64 {
    let probe = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(manifest));
    text(&probe.stdout).trim().parse().unwrap_or(0.0)
}

/// Errors ffmpeg prints while decoding `input` completely (all streams).
pub fn decode_errors(input: &Path) -> String {
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(input)
        .args(["-map", "0", "-f", "null", "-"]));
    let mut s = text(&out.stderr);
    if !out.status.success() {
        s.push_str(&format!("\n(ffmpeg exit {:?})", out.status.code()));
    }
    s
}

/// Runs python3 code with arguments; returns stdout; panics with stderr on failure.
pub fn python(code: &str, args: &[&str]) -> String {
    let out = run(Command::new("python3").arg("-c").arg(code).args(args));
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        text(&out.stderr),
        code
    );
    text(&out.stdout)
}

/// Media segment files (`N.m4s`) in a rendition directory, by number.
pub fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            let n = p
                .file_name()?
                .to_str()?
                .strip_suffix(".m4s")?
                .parse()
                .ok()?;
            Some((n, p))
        })
        .collect();
    v.sort();
    v
}

pub const CHECK_MANIFESTS: &str = r#"
import sys, os, m3u8
from mpegdash.parser import MPEGDASHParser
root = sys.argv[1]
master = m3u8.load(os.path.join(root, "master.m3u8"))
assert master.is_variant, "master.m3u8 is not a master playlist"
hls = set()
for pl in master.playlists:
    media = m3u8.load(os.path.join(root, pl.uri))
    assert media.is_endlist, pl.uri + " has no ENDLIST"
    assert media.version is None or int(media.version) >= 6, "EXT-X-VERSION < 6"
    d = os.path.dirname(pl.uri)
    assert media.segment_map, pl.uri + " has no EXT-X-MAP"
    for s in media.segments:
        hls.add(d + "/" + s.uri)
    print("variant", pl.uri, pl.stream_info.bandwidth, pl.stream_info.codecs, pl.stream_info.resolution)
for m in master.media:
    media = m3u8.load(os.path.join(root, m.uri))
    d = os.path.dirname(m.uri)
    for s in media.segments:
        hls.add(d + "/" + s.uri)
mpd = MPEGDASHParser.parse(os.path.join(root, "manifest.mpd"))
assert mpd.type == "static", "MPD is not static after the end: " + str(mpd.type)
dash = set()
for period in mpd.periods:
    for aset in period.adaptation_sets:
        for rep in aset.representations:
            tmpl = rep.segment_templates[0] if rep.segment_templates else aset.segment_templates[0]
            n = 1 if tmpl.start_number is None else int(tmpl.start_number)
            for s in tmpl.segment_timelines[0].Ss:
                for _ in range(1 + int(s.r or 0)):
                    dash.add(tmpl.media.replace("$RepresentationID$", rep.id).replace("$Number$", str(n)))
                    n += 1
assert hls == dash, "HLS and DASH name different files: only HLS %s, only DASH %s" % (sorted(hls - dash)[:5], sorted(dash - hls)[:5])
for f in hls:
    assert os.path.exists(os.path.join(root, f)), f + " is named but missing"
print("files", len(hls))
"#;

/// The output checks every finished presentation must pass: per rendition,
/// every segment decodes after its init segment and starts with a keyframe;
/// segment start times (tfdt) are identical across video renditions and audio
/// starts with video; durations are within one frame of `segment` seconds
/// (but the last, and those next to a discontinuity); HLS and DASH parse with
/// third-party parsers and name the same files.
pub fn check_presentation(
    out: &Path,
    video: &[&str],
    audio: &str,
    segment: f64,
    min_segments: usize,
) {
    let scratch = tempfile::tempdir().unwrap();
    let audio_name = audio.to_string();
    // Every rendition directory: init + numbered segments.
    let renditions: Vec<String> = video
        .iter()
        .chain(std::iter::once(&audio))
        .map(|s| s.to_string())
        .collect();
    let mut tfdts: BTreeMap<u64, Vec<(String, f64)>> = BTreeMap::new();
    let mut counts = Vec::new();
    for r in &renditions {
        let dir = out.join(r);
        let init = fs::read(dir.join("init.mp4")).unwrap();
        let scale = timescale(&init) as f64;
        let segs = segments(&dir);
        counts.push(segs.len());
        // Segments cut short by the end of a publish session (next to a discontinuity).
        let playlist = fs::read_to_string(dir.join("index.m3u8")).unwrap_or_default();
        let mut short: Vec<u64> = Vec::new();
        let mut last_uri: Option<u64> = None;
        for line in playlist.lines() {
            if line.starts_with("#EXT-X-DISCONTINUITY")
                && !line.starts_with("#EXT-X-DISCONTINUITY-SEQUENCE")
            {
                short.extend(last_uri);
            } else if let Some(n) = line.strip_suffix(".m4s").and_then(|n| n.parse().ok()) {
                last_uri = Some(n);
            }
        }
        for (i, (n, path)) in segs.iter().enumerate() {
            let seg = fs::read(path).unwrap();
            let start = tfdt(&seg) as f64 / scale;
            tfdts.entry(*n).or_default().push((r.clone(), start));
            if *r == audio_name {
                continue;
            }
            assert!(
                starts_with_sync_sample(&seg),
                "{r}/{n}.m4s does not start with a keyframe"
            );
            // Each segment decodes on its own after the init segment.
            let joined = scratch.path().join(format!("{r}-{n}.mp4"));
            fs::write(&joined, [init.clone(), seg.clone()].concat()).unwrap();
            let errors = decode_errors(&joined);
            assert!(errors.trim().is_empty(), "{r}/{n}.m4s: {errors}");
            // Segment durations within one frame of the profile's, except the last one
            // and those ended by a discontinuity.
            let d = segment_duration(&seg) as f64 / scale;
            if i + 1 < segs.len() && !short.contains(n) {
                assert!(
                    (d - segment).abs() <= 1.0 / 30.0 + 1e-6,
                    "{r}/{n}.m4s lasts {d} s, profile says {segment} s"
                );
            }
        }
    }
    assert!(
        counts[0] >= min_segments,
        "only {} segments, expected at least {min_segments}",
        counts[0]
    );
    assert!(
        counts.iter().all(|c| *c == counts[0]),
        "segment counts differ: {counts:?}"
    );
    for (n, starts) in &tfdts {
        let video: Vec<f64> = starts
            .iter()
            .filter(|(r, _)| *r != audio_name)
            .map(|(_, s)| *s)
            .collect();
        assert!(
            video.windows(2).all(|w| w[0] == w[1]),
            "segment {n} starts differ across renditions: {starts:?}"
        );
        let audio = starts
            .iter()
            .find(|(r, _)| *r == audio_name)
            .map(|(_, s)| *s)
            .unwrap();
        assert!(
            (audio - video[0]).abs() <= 1.0 / 30.0 + 0.025,
            "segment {n}: audio starts at {audio}, video at {}",
            video[0]
        );
    }
    let first = &tfdts[tfdts.keys().next().unwrap()];
    assert!(
        first.iter().all(|(_, s)| *s <= 1.0 / 30.0 + 0.025),
        "audio and video must both start at the beginning: {first:?}"
    );

    // Third-party parsers; HLS and DASH name the same files.
    let report = python(CHECK_MANIFESTS, &[out.to_str().unwrap()]);
    assert!(
        report.contains(&format!("variant {}/index.m3u8", video[0])),
        "{report}"
    );
    assert!(
        report.contains("avc1.") && report.contains("mp4a.40.2"),
        "CODECS missing: {report}"
    );
}

/// HTTP GET with curl: (status, headers lower-cased, body).
pub fn http_get(url: &str) -> (u16, String, Vec<u8>) {
    let out = run(Command::new("curl").args(["-s", "-D", "-", "-o", "-", "--max-time", "10", url]));
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = text(&raw[..split]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, raw[split..].to_vec())
}

/// Runs tests/chat/client.mjs in `mode`; returns its JSON line.
pub fn js(mode: &str, args: &[&str]) -> serde_json::Value {
    let out = run(Command::new("node")
        .arg(repo().join("tests/chat/client.mjs"))
        .arg(mode)
        .args(args)
        .current_dir(repo()));
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "centrifuge-js {mode} failed: {}{}",
        stdout,
        text(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("centrifuge-js {mode} printed {stdout:?}: {e}"))
}
