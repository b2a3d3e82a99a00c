//! The GPU video paths against the system-memory path, on a GPU machine.
//!
//! For each video path whose pieces `livefleet worker gpu-check` finds
//! (zero_copy, upload, hybrid; cpu as the reference), a 10 s 1080p30 source
//! goes through a 1080/720/480/360 ladder with `livefleet transcode
//! --decoder ... --encoder ...`. Printed, with the GPU model: host
//! CPU-seconds per content-second of each path and its ratio to the
//! system-memory path (CPU decode and scaling: `upload` where NVENC works,
//! `cpu` otherwise), and ladders at real time: the most transcodes run at
//! once (1, 2, 4, ... 32) with every one at least as fast as real time.
//! Without a GPU it says so and exits 0.
//!
//! Run: `cargo bench --bench gpu_paths` (LIVEFLEET_BENCH_SECONDS sets the source length).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{measure, reap};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_livefleet"));
    let check = Command::new(&bin)
        .args(["worker", "gpu-check", "--json", "--seconds", "0"])
        .output()
        .expect("livefleet worker gpu-check runs");
    let report: serde_json::Value =
        serde_json::from_slice(&check.stdout).expect("gpu-check prints JSON");
    let Some(model) = report["gpu"]["model"].as_str().map(str::to_owned) else {
        println!(
            "gpu_paths: no GPU here ({}); nothing to measure",
            report["gpu"]["reason"]
                .as_str()
                .unwrap_or("no reason given")
        );
        return;
    };
    let available: Vec<String> = report["modes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["available"] == true)
        .filter_map(|m| m["mode"].as_str().map(str::to_owned))
        .collect();
    let secs: u32 = std::env::var("LIVEFLEET_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=1920x1080:rate=30")
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "60",
        ])
        .arg(&source)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    let profile = tmp.path().join("ladder.yaml");
    std::fs::write(&profile, PROFILE).unwrap();

    println!("gpu_paths: {model}, {secs} s 1080p30 -> 1080/720/480/360");
    let mut cpu_per_s = Vec::new();
    for path in ["zero_copy", "upload", "hybrid", "cpu"] {
        if !available.iter().any(|a| a == path) {
            let why = report["modes"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["mode"] == path))
                .and_then(|m| m["reason"].as_str())
                .unwrap_or("not available");
            println!("  {path:<10} not measured: {why}");
            continue;
        }
        let out = tmp.path().join(format!("{path}-1"));
        let u = measure(&mut transcode(&bin, &source, &profile, &out, path));
        let per_s = u.cpu / f64::from(secs);
        let ladders = ladders_at_real_time(&bin, &source, &profile, tmp.path(), path, secs);
        println!(
            "  {path:<10} host CPU {per_s:.2} s per content-second, speed {:.2}x real time, {ladders} ladders at real time",
            f64::from(secs) / u.wall
        );
        cpu_per_s.push((path, per_s));
    }
    let reference = cpu_per_s
        .iter()
        .find(|(p, _)| *p == "upload")
        .or_else(|| cpu_per_s.iter().find(|(p, _)| *p == "cpu"));
    if let Some((base, base_cpu)) = reference {
        for (path, cpu) in cpu_per_s
            .iter()
            .filter(|(p, _)| *p == "zero_copy" || *p == "hybrid")
        {
            println!(
                "  host CPU ratio {path} / {base}: {:.2}",
                cpu / base_cpu.max(1e-9)
            );
        }
    }
}

const PROFILE: &str = "name: gpu-bench\nsegment_duration: 2\ngop: 2\nallow_cpu: false\npreset: p3\naudio: []\nvideo:\n  - { name: 1080p, width: 1920, height: 1080, bitrate: 6000k }\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n  - { name: 480p, width: 854, height: 480, bitrate: 1200k }\n  - { name: 360p, width: 640, height: 360, bitrate: 730k }\n";

fn transcode(bin: &Path, source: &Path, profile: &Path, out: &Path, path: &str) -> Command {
    let (decoder, encoder) = match path {
        "zero_copy" => ("nvdec", "nvenc"),
        "upload" => ("cpu", "nvenc"),
        "hybrid" => ("nvdec", "x264"),
        _ => ("cpu", "x264"),
    };
    let mut cmd = Command::new(bin);
    cmd.arg("transcode")
        .arg(source)
        .arg("--profile")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .args(["--decoder", decoder, "--encoder", encoder, "--force"]);
    cmd
}

/// The most transcodes of `path` at once (doubling up to 32) that each keep
/// up with real time.
fn ladders_at_real_time(
    bin: &Path,
    source: &Path,
    profile: &Path,
    dir: &Path,
    path: &str,
    secs: u32,
) -> u32 {
    let mut best = 0;
    let mut n = 1;
    while n <= 32 {
        let start = Instant::now();
        let children: Vec<_> = (0..n)
            .map(|i| {
                transcode(
                    bin,
                    source,
                    profile,
                    &dir.join(format!("{path}-n{i}")),
                    path,
                )
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
            })
            .collect();
        let slowest = children
            .into_iter()
            .map(|c| reap(c, start, path).wall)
            .fold(0.0, f64::max);
        if f64::from(secs) / slowest < 1.0 {
            break;
        }
        best = n;
        n *= 2;
    }
    best
}
