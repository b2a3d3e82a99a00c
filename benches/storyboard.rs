//! A VOD's storyboard, side by side with the ffmpeg CLI in the same run.
//!
//! The presentation: a 640x360 30 fps source (testsrc2, libx264 ultrafast,
//! a keyframe every 2 s) copied by `livefleet transcode` into CMAF with HLS
//! and DASH: one video rendition of 2 s segments, what a storyboard of a
//! ladder reads (its smallest rendition at least 240 wide). Then, from that
//! output:
//!
//! - ours: `livefleet storyboard` (each segment's first picture, 240x136
//!   tiles in 10x10 JPEG sprites, and the WebVTT cues);
//! - the CLI with keyframes alone (`-skip_frame nokey`, `tile=10x10`): the
//!   same sprites, no cues;
//! - the CLI as storyboards are usually made (`fps=1/2`, every frame
//!   decoded).
//!
//! Printed: CPU-seconds and wall seconds per hour of content (median of
//! LIVEFLEET_BENCH_ROUNDS rounds, default 3, alternating), peak RSS, and
//! ours / each CLI row.
//!
//! Run: `cargo bench --bench storyboard` (LIVEFLEET_BENCH_SECONDS sets the
//! source's length, default 300). Figures only; nothing here passes or fails.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ffmpeg, measure, setting, side_median, Usage};

const PROFILE: &str = "name: copy\nsegment_duration: 2\ngop: 2\nencoder: x264\nallow_cpu: true\n\
    video:\n  - name: source\n    passthrough: true\n\
    audio:\n  - name: audio\n    bitrate: 128k\n    channels: 2\n    sample_rate: 48000\n    passthrough: true\n";

/// The CLI's sprites of `playlist` into `dir`, with `input` options and `filter`.
fn cli(input: &[&str], playlist: &Path, filter: &str, dir: &Path) -> Usage {
    std::fs::create_dir_all(dir).expect("sprite dir");
    measure(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(input)
            .arg("-i")
            .arg(playlist)
            .args(["-vf", filter, "-fps_mode", "vfr", "-q:v", "4"])
            .arg(dir.join("%d.jpg")),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: usize = setting("LIVEFLEET_BENCH_SECONDS", 300);
    let rounds = setting("LIVEFLEET_BENCH_ROUNDS", 3usize).max(1);
    let bin = env!("CARGO_BIN_EXE_livefleet");
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source.mp4");
    println!("making a {secs} s 640x360 presentation ...");
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
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        source.to_str().unwrap(),
    ]);
    let profile = tmp.path().join("copy.yaml");
    std::fs::write(&profile, PROFILE).expect("profile");
    let out = tmp.path().join("out");
    let made = Command::new(bin)
        .args(["transcode", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .arg(&source)
        .env("RUST_LOG", "warn")
        .status()
        .expect("transcode");
    assert!(made.success(), "transcode");
    let playlist = out.join("source/index.m3u8");
    let tile = "scale=240:136,tile=10x10";
    let mut runs: Vec<Vec<(&str, Usage)>> = Vec::new();
    for round in 0..rounds {
        println!("round {} of {rounds} ...", round + 1);
        let dir = |name: &str| tmp.path().join(format!("{name}-{round}"));
        runs.push(vec![
            (
                "ours (livefleet storyboard)",
                measure(
                    Command::new(bin)
                        .arg("storyboard")
                        .arg(&out)
                        .env("RUST_LOG", "warn"),
                ),
            ),
            (
                "CLI, keyframes decoded",
                cli(&["-skip_frame", "nokey"], &playlist, tile, &dir("keys")),
            ),
            (
                "CLI, every frame decoded (fps=1/2)",
                cli(&[], &playlist, &format!("fps=1/2,{tile}"), &dir("every")),
            ),
        ]);
    }
    let names: Vec<&str> = runs[0].iter().map(|(n, _)| *n).collect();
    let figure = |i: usize, f: fn(&Usage) -> f64| side_median(&runs, i, f);
    let per_hour = 3600.0 / secs as f64;
    let ours_cpu = figure(0, |u| u.cpu);
    println!(
        "\n{:<38} {:>16} {:>16} {:>9} {:>12}",
        "side", "CPU-s per hour", "wall-s per hour", "peak MB", "ours / this"
    );
    for (i, name) in names.iter().enumerate() {
        let cpu = figure(i, |u| u.cpu);
        println!(
            "{:<38} {:>16.2} {:>16.2} {:>9.0} {:>11.2}x",
            name,
            cpu * per_hour,
            figure(i, |u| u.wall) * per_hour,
            figure(i, |u| u.max_rss_mb),
            ours_cpu / cpu
        );
    }
    let vtt = std::fs::read_to_string(out.join("storyboard.vtt")).unwrap_or_default();
    println!(
        "\nours: {} cues; the CLI rows write the sprites only (no WebVTT)",
        vtt.matches(" --> ").count()
    );
}
