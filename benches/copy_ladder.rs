//! A ladder that only copies the source, side by side with the ffmpeg CLI
//! in the same run.
//!
//! A 1080p30 source (testsrc2 + sine, libx264 veryfast at 6 Mbit/s, a
//! keyframe every 2 s, AAC) is repackaged without re-encoding:
//!
//! - ours: `livefleet transcode` with the video and the AAC copied: CMAF,
//!   HLS and DASH, and the preview picture (`thumbnail.jpg`), for which it
//!   decodes the keyframes alone;
//! - the CLI's remux: `ffmpeg -c copy` to fMP4 HLS, no picture;
//! - the CLI's remux with a preview picture as one usually writes it (every
//!   frame decoded, one JPEG every 2 s) and as it can be written
//!   (`-skip_frame nokey`: keyframes alone).
//!
//! Printed: CPU-seconds per content-second of each, wall time, peak RSS, and
//! ours / each CLI row. Rounds alternate (LIVEFLEET_BENCH_ROUNDS, default
//! 3); figures are the rounds' medians.
//!
//! Run: `cargo bench --bench copy_ladder` (LIVEFLEET_BENCH_SECONDS sets the
//! source's length, default 60). Figures only; nothing here passes or fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ffmpeg, measure, setting, side_median, Usage};

const PROFILE: &str = "name: copy\nsegment_duration: 2\ngop: 2\nencoder: x264\nallow_cpu: true\n\
    video:\n  - name: source\n    passthrough: true\n\
    audio:\n  - name: audio\n    bitrate: 128k\n    channels: 2\n    sample_rate: 48000\n    passthrough: true\n";

/// One run of each side, in `round`'s own directory.
fn sides(bin: &Path, source: &Path, dir: &Path, round: usize) -> Vec<(&'static str, Usage)> {
    let profile = dir.join("copy.yaml");
    std::fs::write(&profile, PROFILE).expect("profile");
    let out = |name: &str| {
        let d = dir.join(format!("{name}-{round}"));
        std::fs::create_dir_all(&d).expect("out dir");
        d
    };
    let ours = out("ours");
    let src = source.to_str().unwrap();
    let hls = |d: &Path| -> Vec<String> {
        ["-f", "hls", "-hls_time", "2", "-hls_segment_type", "fmp4"]
            .iter()
            .map(|s| s.to_string())
            .chain(["-hls_playlist_type", "vod"].iter().map(|s| s.to_string()))
            .chain([d.join("index.m3u8").to_str().unwrap().to_string()])
            .collect()
    };
    let picture = |d: &Path| -> Vec<String> {
        [
            "-map",
            "0:v",
            "-vf",
            "fps=1/2,scale=640:-2",
            "-q:v",
            "4",
            "-update",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([d.join("thumbnail.jpg").to_str().unwrap().to_string()])
        .collect()
    };
    let cli = |input_opts: &[&str], with_picture: bool, d: PathBuf| {
        let mut c = Command::new("ffmpeg");
        c.args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(input_opts)
            .args(["-i", src, "-map", "0", "-c", "copy"])
            .args(hls(&d));
        if with_picture {
            c.args(picture(&d));
        }
        measure(&mut c)
    };
    vec![
        (
            "ours",
            measure(
                Command::new(bin)
                    .args(["transcode", "--force", "--profile"])
                    .arg(&profile)
                    .arg("--out")
                    .arg(&ours)
                    .arg(source)
                    .env("RUST_LOG", "warn"),
            ),
        ),
        ("CLI remux", cli(&[], false, out("remux"))),
        (
            "CLI remux + picture, every frame decoded",
            cli(&[], true, out("every")),
        ),
        (
            "CLI remux + picture, keyframes decoded",
            cli(&["-skip_frame", "nokey"], true, out("keys")),
        ),
    ]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: usize = setting("LIVEFLEET_BENCH_SECONDS", 60);
    let rounds = setting("LIVEFLEET_BENCH_ROUNDS", 3usize).max(1);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_livefleet"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source.mp4");
    println!("making a {secs} s 1080p30 source at 6 Mbit/s ...");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1920x1080:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "6M",
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
        "-ac",
        "2",
        source.to_str().unwrap(),
    ]);
    let mut runs: Vec<Vec<(&str, Usage)>> = Vec::new();
    for round in 0..rounds {
        println!("round {} of {rounds} ...", round + 1);
        runs.push(sides(&bin, &source, tmp.path(), round));
    }
    let names: Vec<&str> = runs[0].iter().map(|(n, _)| *n).collect();
    let figure = |i: usize, f: fn(&Usage) -> f64| side_median(&runs, i, f);
    let ours_cpu = figure(0, |u| u.cpu) / secs as f64;
    println!(
        "\n{:<42} {:>14} {:>9} {:>10} {:>12}",
        "side", "CPU-s per s", "wall s", "peak MB", "ours / this"
    );
    for (i, name) in names.iter().enumerate() {
        let cpu = figure(i, |u| u.cpu) / secs as f64;
        println!(
            "{:<42} {:>14.4} {:>9.2} {:>10.0} {:>11.2}x",
            name,
            cpu,
            figure(i, |u| u.wall),
            figure(i, |u| u.max_rss_mb),
            ours_cpu / cpu
        );
    }
    println!(
        "\nours writes CMAF with HLS and DASH and a preview picture; the CLI rows write HLS only"
    );
}
