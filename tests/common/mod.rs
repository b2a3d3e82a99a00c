//! Test harness shared by the integration tests: makes media with the ffmpeg
//! CLI, runs the `livefleet` binary, and reads our output with third-party
//! tools (ffmpeg/ffprobe, python's m3u8 and mpegdash packages) and a small
//! MP4 box reader.
#![allow(dead_code)]

pub mod cluster;
pub mod s3;
pub mod spike;

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

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// A `secs`-second 640x360 30 fps clip: testsrc2 + sine, H.264 with B-frames and a
/// 2 s GOP, AAC, in the container the extension names.
pub fn make_clip(path: &Path, secs: u32) {
    let t = secs.to_string();
    ffmpeg(&[
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
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        path.to_str().expect("utf-8 path"),
    ]);
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

/// One ISO-BMFF box: type and payload (after the header).
pub struct Mp4Box<'a> {
    pub kind: [u8; 4],
    pub body: &'a [u8],
}

/// The boxes in `data`, in order (stops at the first malformed header).
pub fn boxes(mut data: &[u8]) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let mut size = u32::from_be_bytes(data[0..4].try_into().unwrap()) as u64;
        let kind: [u8; 4] = data[4..8].try_into().unwrap();
        let mut header = 8;
        if size == 1 && data.len() >= 16 {
            size = u64::from_be_bytes(data[8..16].try_into().unwrap());
            header = 16;
        } else if size == 0 {
            size = data.len() as u64;
        }
        if size < header as u64 || size as usize > data.len() {
            break;
        }
        out.push(Mp4Box {
            kind,
            body: &data[header..size as usize],
        });
        data = &data[size as usize..];
    }
    out
}

pub fn child<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let b = boxes(data).into_iter().find(|b| &b.kind == *first)?;
    if rest.is_empty() {
        Some(b.body)
    } else {
        child(b.body, rest)
    }
}

/// baseMediaDecodeTime of the (first) fragment of a media segment.
pub fn tfdt(segment: &[u8]) -> u64 {
    let body = child(segment, &[b"moof", b"traf", b"tfdt"]).expect("segment has moof/traf/tfdt");
    if body[0] == 1 {
        u64::from_be_bytes(body[4..12].try_into().unwrap())
    } else {
        u32::from_be_bytes(body[4..8].try_into().unwrap()) as u64
    }
}

/// Timescale of the single track of an init segment (mdhd).
pub fn timescale(init: &[u8]) -> u32 {
    let mdhd = child(init, &[b"moov", b"trak", b"mdia", b"mdhd"]).expect("init has mdhd");
    let at = if mdhd[0] == 1 { 20 } else { 12 };
    u32::from_be_bytes(mdhd[at..at + 4].try_into().unwrap())
}

/// Sum of the sample durations of a media segment's trun boxes, using tfhd defaults.
pub fn segment_duration(segment: &[u8]) -> u64 {
    let traf = child(segment, &[b"moof", b"traf"]).expect("traf");
    let mut default = 0u32;
    let mut total = 0u64;
    for b in boxes(traf) {
        if &b.kind == b"tfhd" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            if flags & 0x8 != 0 {
                default = u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap());
            }
        }
        if &b.kind == b"trun" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let count = u32::from_be_bytes(b.body[4..8].try_into().unwrap());
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 4;
            }
            if flags & 0x4 != 0 {
                at += 4;
            }
            for _ in 0..count {
                let mut d = default;
                if flags & 0x100 != 0 {
                    d = u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap());
                    at += 4;
                }
                if flags & 0x200 != 0 {
                    at += 4;
                }
                if flags & 0x400 != 0 {
                    at += 4;
                }
                if flags & 0x800 != 0 {
                    at += 4;
                }
                total += u64::from(d);
            }
        }
    }
    total
}

/// First sample of a media segment is a sync sample (from trun first-sample-flags or sample flags).
pub fn starts_with_sync_sample(segment: &[u8]) -> bool {
    let traf = child(segment, &[b"moof", b"traf"]).expect("traf");
    let mut default_flags = None;
    for b in boxes(traf) {
        if &b.kind == b"tfhd" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 8;
            }
            if flags & 0x2 != 0 {
                at += 4;
            }
            if flags & 0x8 != 0 {
                at += 4;
            }
            if flags & 0x10 != 0 {
                at += 4;
            }
            if flags & 0x20 != 0 {
                default_flags = Some(u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap()));
            }
        }
        if &b.kind == b"trun" {
            let flags = u32::from_be_bytes([0, b.body[1], b.body[2], b.body[3]]);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 4;
            }
            let sample_flags = if flags & 0x4 != 0 {
                u32::from_be_bytes(b.body[at..at + 4].try_into().unwrap())
            } else {
                let mut at2 = at;
                if flags & 0x100 != 0 {
                    at2 += 4;
                }
                if flags & 0x200 != 0 {
                    at2 += 4;
                }
                if flags & 0x400 != 0 {
                    u32::from_be_bytes(b.body[at2..at2 + 4].try_into().unwrap())
                } else {
                    default_flags.unwrap_or(0x10000)
                }
            };
            // sample_is_non_sync_sample is bit 16.
            return sample_flags & 0x1_0000 == 0;
        }
    }
    false
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

/// `livefleet dev` on free ports with a temporary data directory; stopped on drop.
pub struct Dev {
    /// Dropped first (after dev stopped), before `data` is removed.
    _guard: Box<dyn std::any::Any>,
    pub child: std::process::Child,
    pub data: tempfile::TempDir,
    pub publish_url: String,
    pub http: String,
    /// The chat relay's WebSocket URL, and a moderator token for it.
    pub chat: String,
    pub chat_token: String,
    pub channel: String,
    pub log: PathBuf,
}

impl Dev {
    /// Starts dev for `channel` with the small profile, waits for its addresses.
    pub fn start(channel: &str, extra: &[&str]) -> Dev {
        Self::start_with_store(channel, extra, |_| ())
    }

    /// As [`Dev::start`], with `prepare` run on the storage directory
    /// first; what it returns (a mount, say) lives as long as the `Dev`
    /// and is dropped after dev has stopped.
    pub fn start_with_store<G: 'static>(
        channel: &str,
        extra: &[&str],
        prepare: impl FnOnce(&Path) -> G,
    ) -> Dev {
        Self::start_full(channel, extra, &[], prepare)
    }

    /// As [`Dev::start`], with these environment variables (the AWS ones of an S3 store).
    pub fn start_env(channel: &str, extra: &[&str], env: &[(String, String)]) -> Dev {
        Self::start_full(channel, extra, env, |_| ())
    }

    fn start_full<G: 'static>(
        channel: &str,
        extra: &[&str],
        env: &[(String, String)],
        prepare: impl FnOnce(&Path) -> G,
    ) -> Dev {
        use std::io::BufRead;
        let data = tempfile::tempdir().unwrap();
        let guard: Box<dyn std::any::Any> = Box::new(prepare(&data.path().join("store")));
        let log = data.path().join("dev.log");
        let mut child = livefleet()
            .args([
                "dev",
                "--rtmp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--chat",
                "127.0.0.1:0",
                "--channel",
                channel,
            ])
            .arg("--data")
            .arg(data.path().join("store"))
            .args(if extra.contains(&"--profile") {
                vec![]
            } else {
                vec!["--profile".into(), profile("cpu-small.yaml")]
            })
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("LIVEFLEET_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start livefleet dev");
        let stdout = child.stdout.take().unwrap();
        let mut publish_url = String::new();
        let mut http = String::new();
        let mut chat = String::new();
        let mut chat_token = String::new();
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.unwrap_or_default();
            let line = line.trim();
            if let Some(u) = line.strip_prefix("publish:") {
                publish_url = u.trim().to_string();
            }
            if let Some(u) = line.strip_prefix("HLS:") {
                http = u
                    .trim()
                    .split("/live/")
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            if let Some(u) = line.strip_prefix("chat:") {
                chat = u.trim().to_string();
            }
            if let Some(t) = line.strip_prefix("token:") {
                chat_token = t.split_whitespace().next().unwrap_or_default().to_string();
            }
            if line.starts_with("data:") {
                break;
            }
        }
        // Keep reading, so the process never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        assert!(
            !http.is_empty(),
            "dev did not start: {}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        Dev {
            child,
            data,
            publish_url,
            http,
            chat,
            chat_token,
            channel: channel.into(),
            log,
            _guard: guard,
        }
    }

    /// The storage directory of this channel.
    pub fn channel_dir(&self) -> PathBuf {
        self.data
            .path()
            .join("store")
            .join("live")
            .join(&self.channel)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/live/{}/{}", self.http, self.channel, path)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The RTMP URL with another stream key.
    pub fn publish_url_with_key(&self, key: &str) -> String {
        let base = self.publish_url.rsplit_once('/').unwrap().0;
        format!("{base}/{key}")
    }

    /// Waits until `f` holds, up to `secs`.
    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "timed out after {secs} s waiting for {what}\n--- dev log ---\n{}",
            self.log()
        );
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SIGTERM lets dev stop its children (nats-server, ffmpeg) itself.
        unsafe_terminate(self.child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// An RTMP publisher child process (ffmpeg or GStreamer), killed on drop.
pub struct Publisher(pub std::process::Child);

impl Publisher {
    /// ffmpeg publishing `secs` of 640x360 30 fps, 2 s GOP, AAC, at real time.
    pub fn ffmpeg(url: &str, secs: u32) -> Publisher {
        Self::ffmpeg_audio(url, secs, 48_000)
    }

    /// As [`Publisher::ffmpeg`], with audio at `sample_rate`.
    pub fn ffmpeg_audio(url: &str, secs: u32, sample_rate: u32) -> Publisher {
        let sine = format!("sine=frequency=440:sample_rate={sample_rate}");
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30",
                "-f",
                "lavfi",
                "-i",
                &sine,
            ])
            .args(["-t", &secs.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
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
            ])
            .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv", url])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ffmpeg");
        Publisher(child)
    }

    /// Waits for the end; returns (success, stderr).
    pub fn finish(mut self) -> (bool, String) {
        let status = self.0.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status.success(), err)
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.kill();
    }
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

/// Media segment URIs of an HLS playlist, and its discontinuity positions (index of the next segment).
pub fn playlist_entries(text: &str) -> (Vec<String>, Vec<usize>) {
    let mut uris = Vec::new();
    let mut disc = Vec::new();
    for line in text.lines() {
        if line == "#EXT-X-DISCONTINUITY" {
            disc.push(uris.len());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            uris.push(line.trim().to_string());
        }
    }
    (uris, disc)
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
