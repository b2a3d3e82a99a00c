//! `livefleet transcode` end to end: a real clip made with the ffmpeg CLI,
//! transcoded with a shipped profile, read back by ffmpeg/ffprobe and by
//! third-party HLS and DASH parsers.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn transcode(input: &Path, profile: &Path, out: &Path) -> std::process::Output {
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

/// Clips shorter than what the H.264 decoder holds back (B-frame reordering):
/// a single frame, and three frames with B-frames. They used to be refused
/// as "no decodable video frame": the frames the decoder still held at the
/// end of the input were never drained while looking for the first one.
#[test]
fn clips_shorter_than_the_decoder_delay_are_transcoded() {
    let tmp = tempfile::tempdir().unwrap();
    for frames in [1, 3] {
        let clip = tmp.path().join(format!("{frames}.mp4"));
        let n = frames.to_string();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-frames:v",
            &n,
            "-c:v",
            "libx264",
            "-bf",
            "2",
            clip.to_str().unwrap(),
        ]);
        let out = tmp.path().join(format!("out{frames}"));
        let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
        assert!(r.status.success(), "{frames} frames: {}", text(&r.stderr));
        let probe = run(std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(out.join("360p/index.m3u8")));
        // ffprobe lists the playlist's stream once per program it finds.
        let counts = text(&probe.stdout);
        assert!(
            counts.lines().any(|l| l.trim() == n)
                && counts.lines().all(|l| l.trim().is_empty() || l.trim() == n),
            "{frames} frames in, 360p has {counts:?}: {}",
            text(&probe.stderr)
        );
    }
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

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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

/// What a camera or an old capture tool writes: AVI with H.264 B-frames
/// (its packets carry a decode time only) and PCM audio whose channel layout
/// is not stated, and the same PCM in Matroska. The unstated layout crashed
/// the process in the resampler (a segfault), and the AVI's last frames,
/// drained without a time, went back to the start, so the file seemed to end
/// at 0 s and was refused as truncated.
#[test]
fn avi_with_b_frames_and_pcm_audio_of_unstated_layout() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, video) in [
        ("camera.avi", "libx264"),
        ("webcam.avi", "mjpeg"),
        ("capture.mkv", "libx264"),
    ] {
        let clip = tmp.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "4",
            "-c:v",
            video,
            "-c:a",
            "pcm_s16le",
            clip.to_str().unwrap(),
        ]);
        let out = tmp.path().join(format!("out-{name}"));
        let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
        assert!(
            r.status.success(),
            "{name}: {:?}: {}",
            r.status,
            text(&r.stderr)
        );
        assert!(
            text(&r.stdout).contains("4.0 s of media, 120 frames"),
            "{name}: {}",
            text(&r.stdout)
        );
        let errors = decode_errors(&out.join("master.m3u8"));
        assert!(errors.trim().is_empty(), "{name}: {errors}");
        let mean = mean_volume(&out.join("audio/index.m3u8"));
        assert!(mean > -40.0, "{name}: the audio is silent ({mean} dB)");
    }
}

/// MPEG-TS recordings joined end to end (`cat a.ts b.ts`, a broadcast
/// splice) carry timestamps that jump: back to the second recording's start,
/// or forward over a gap. Before, the part after a jump back was dropped
/// without a word (a 6 s file gave 3 s), and a jump forward made a segment
/// as long as the gap with one frame held all through it. Both now join, as
/// the ffmpeg CLI joins them: the part after the jump continues the timeline.
#[test]
fn spliced_mpeg_ts_is_joined_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let part = |name: &str, size: &str, tone: &str, offset: &str| {
        let path = tmp.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={tone}"),
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-output_ts_offset",
            offset,
            "-f",
            "mpegts",
            path.to_str().unwrap(),
        ]);
        fs::read(path).unwrap()
    };
    let first = part("a.ts", "640x360", "440", "0");
    for (name, offset) in [("back", "0"), ("gap", "100")] {
        let mut spliced = first.clone();
        spliced.extend(part(&format!("b-{name}.ts"), "1280x720", "660", offset));
        let clip = tmp.path().join(format!("{name}.ts"));
        fs::write(&clip, spliced).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
        assert!(r.status.success(), "{name}: {}", text(&r.stderr));
        let said = text(&r.stdout);
        assert!(
            said.contains("6.0 s of media, 180 frames") && said.contains("1 timestamp jump joined"),
            "{name}: {said}"
        );
        check_presentation(&out, &["360p", "240p"], "audio", 2.0, 3);
        let errors = decode_errors(&out.join("master.m3u8"));
        assert!(errors.trim().is_empty(), "{name}: {errors}");
        for playlist in ["360p/index.m3u8", "audio/index.m3u8"] {
            let d = probed_seconds(&out.join(playlist));
            assert!(
                (d - 6.0).abs() < 0.2,
                "{name}: {playlist} lasts {d} s, the input 6 s"
            );
        }
    }
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

/// A 50 fps source under the profile's cap of 30 is encoded at 25 fps, every
/// other frame, evenly 40 ms apart. Before, it was taken to 30 fps by
/// dropping two frames in five unevenly, and motion juddered.
#[test]
fn a_source_over_the_cap_is_divided_evenly() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    make_clip_with(
        &clip,
        4,
        &["-r", "50", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert_eq!(master.matches("FRAME-RATE=25.000").count(), 2, "{master}");
    let probe = run(std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["packet=pts_time", "-of", "csv=p=0"])
        .arg(out.join("360p/index.m3u8")));
    let mut times: Vec<f64> = text(&probe.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    assert!((98..=101).contains(&times.len()), "{} frames", times.len());
    for pair in times.windows(2) {
        let step = pair[1] - pair[0];
        assert!(
            (step - 0.04).abs() < 0.002,
            "frames {step} s apart: {times:?}"
        );
    }
}

/// A 59.94 fps source into a ladder of one rendition at the source's rate
/// and one capped at 30 (29.97, every other frame): every segment starts at
/// the same instant in both. Before, the capped rendition took the half-way
/// frames stamped a tick late, and its segments started a frame after the
/// others' (2.035 s against 2.002).
#[test]
fn renditions_at_half_the_source_rate_stay_in_line() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=60000/1001",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    let profile = tmp.path().join("two.yaml");
    fs::write(
        &profile,
        "name: two\nsegment_duration: 2\ngop: 2\nencoder: x264\npreset: p1\nallow_cpu: true\nvideo:\n  - name: full\n    width: 640\n    height: 360\n    bitrate: 900k\n    frame_rate: source\n  - name: half\n    width: 426\n    height: 240\n    bitrate: 300k\n    frame_rate: 30\naudio:\n  - name: audio\n    bitrate: 96k\n    channels: 2\n    sample_rate: 48000\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile, &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    check_presentation(&out, &["full", "half"], "audio", 2.0, 3);
    let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(
        master.contains("FRAME-RATE=59.940") && master.contains("FRAME-RATE=29.970"),
        "{master}"
    );
}
