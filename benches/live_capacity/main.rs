//! Live capacity: how many channels of the small CPU profile one node keeps
//! at real time, livefleet against one ffmpeg CLI process per channel, in
//! the same run.
//!
//! livefleet: nats-server, `livefleet ingest --no-scheduler` and one
//! `livefleet worker --all-channels`. The CLI: nginx-rtmp, and per channel
//! an `ffmpeg -i rtmp://...` encoding the same ladder (360p + 240p libx264
//! ultrafast, AAC 96k, 2 s segments) to HLS. Channels are added one at a
//! time, each published at real time (`ffmpeg -re -c copy` of a prepared
//! 640x360 30 fps clip, looped); after a warm-up, the encode speed of every
//! rendition of every channel is measured from the times its new segments
//! appear and what its playlist says they last (media seconds per wall
//! second). The step where any channel falls below
//! real time in two windows running ends the run. Prints channels per core
//! for both and the ratio.
//!
//! First, both sides run a few channels at the same time and the CPU of
//! their services (nats-server, ingest and worker; nginx and the ffmpeg
//! transcoders; not the publishers) is compared per channel: the steadier
//! figure, as both see the same host.
//!
//! Run: `cargo bench --bench live_capacity` (needs nats-server, nginx-light
//! and libnginx-mod-rtmp; LIVEFLEET_BENCH_SECONDS sets the measuring window
//! per step, default 16; LIVEFLEET_BENCH_STEP the channels added per step,
//! default 2; LIVEFLEET_BENCH_MAX_CHANNELS the most, default 40;
//! LIVEFLEET_BENCH_SBS_CHANNELS, _SBS_ROUNDS and _SBS_SECONDS the side by
//! side part, default 4 channels each, 3 rounds of 20 s). Figures only;
//! nothing here passes or fails.

#[path = "../common/mod.rs"]
mod common;
mod sides;

use common::cpu_seconds;
use sides::{Cli, Ours, Side};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A channel keeps real time when its segments come at least this fast.
const REAL_TIME: f64 = 0.97;
const WARM_UP: Duration = Duration::from_secs(6);
const SEGMENT: f64 = 2.0;

/// Watches a directory for new numbered segment files and records when each
/// appeared, and what its media playlist (`index.m3u8`) says it lasts.
struct Watch {
    dir: PathBuf,
    seen: HashMap<String, Instant>,
    lasts: HashMap<String, f64>,
}

impl Watch {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seen: HashMap::new(),
            lasts: HashMap::new(),
        }
    }

    fn poll(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".m4s") || name.ends_with(".ts")) && !self.seen.contains_key(&name) {
                self.seen.insert(name, Instant::now());
            }
        }
        let playlist = std::fs::read_to_string(self.dir.join("index.m3u8")).unwrap_or_default();
        let mut extinf = None;
        for line in playlist.lines() {
            if let Some(v) = line.strip_prefix("#EXTINF:") {
                extinf = v.split(',').next().and_then(|d| d.parse::<f64>().ok());
            } else if !line.starts_with('#') && !line.is_empty() {
                if let Some(d) = extinf.take() {
                    self.lasts.insert(line.to_string(), d);
                }
            }
        }
    }

    /// Media seconds per wall second over the segments that appeared in
    /// `[from, to]`: what the playlist says they last (the nominal segment
    /// where it has not named one yet), so that media a channel skipped or
    /// cut short is not counted as kept.
    fn speed(&self, from: Instant, to: Instant) -> f64 {
        let mut times: Vec<(Instant, &String)> = self
            .seen
            .iter()
            .map(|(name, t)| (*t, name))
            .filter(|(t, _)| *t >= from && *t <= to)
            .collect();
        times.sort();
        match (times.first(), times.last()) {
            (Some((a, _)), Some((b, _))) if times.len() >= 3 => {
                let media: f64 = times[1..]
                    .iter()
                    .map(|(_, name)| self.lasts.get(*name).copied().unwrap_or(SEGMENT))
                    .sum();
                media / (*b - *a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// Busy and total jiffies of all CPUs, from /proc/stat.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().sum();
    (total - idle, total)
}

/// The slowest channel's speed (media seconds per wall second) over one
/// window after the warm-up, and how busy the CPUs were.
fn measure(watches: &mut [Watch], window: Duration) -> (f64, f64) {
    let from = Instant::now() + WARM_UP;
    let to = from + window;
    let mut busy = None;
    while Instant::now() < to {
        if busy.is_none() && Instant::now() >= from {
            busy = Some(cpu_jiffies());
        }
        for w in watches.iter_mut() {
            w.poll();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (b0, t0) = busy.unwrap_or_default();
    let (b1, t1) = cpu_jiffies();
    let load = (b1 - b0) as f64 / (t1 - t0).max(1) as f64;
    let slowest = watches
        .iter()
        .map(|w| w.speed(from, to))
        .fold(f64::INFINITY, f64::min);
    (slowest, load)
}

/// Adds channels (`step` at a time) until one falls below real time;
/// returns the most kept at real time. A step that reads below real time is
/// measured once more before it counts: a window holds about eight segments,
/// so one segment written half a second late reads 0.96x although the
/// channel keeps up (seen on both sides at 40% CPU); a channel that cannot
/// keep up stays behind in the next window too.
fn capacity(side: &mut dyn Side, clip: &Path, window: Duration, max: usize, step: usize) -> usize {
    let mut watches: Vec<Watch> = Vec::new();
    let (mut n, mut kept) = (0, 0);
    while n < max {
        for _ in 0..step.min(max - n) {
            n += 1;
            watches.extend(side.add(n, clip).into_iter().map(Watch::new));
        }
        let mut behind = 0;
        for _ in 0..2 {
            let (slowest, load) = measure(&mut watches, window);
            println!(
                "{:<24} {n:>3} channels: slowest {slowest:.2}x real time, CPU {:.0}% busy",
                side.name(),
                load * 100.0
            );
            if slowest >= REAL_TIME {
                break;
            }
            behind += 1;
        }
        if behind == 2 {
            break;
        }
        kept = n;
    }
    kept
}

/// Runs `n` channels on each side at the same time and compares the CPU
/// their services use (`rounds` windows of `window`); returns the median
/// ratio ours / CLI.
fn side_by_side(
    ours: &mut Ours,
    cli: &mut Cli,
    clip: &Path,
    n: usize,
    rounds: usize,
    window: Duration,
) -> f64 {
    let mut outputs = Vec::new();
    for i in 1..=n {
        outputs.extend(ours.add(i, clip));
        outputs.extend(cli.add(i, clip));
    }
    std::thread::sleep(WARM_UP + WARM_UP);
    // Every channel must be running, or the CPU compared is not that of n
    // channels a side.
    for dir in &outputs {
        let mut watch = Watch::new(dir.clone());
        watch.poll();
        assert!(
            !watch.seen.is_empty(),
            "{} has no segment after the warm-up: its side did not start",
            dir.display()
        );
    }
    let used = |side: &dyn Side| -> f64 { side.service_pids().into_iter().map(cpu_seconds).sum() };
    let mut ratios = Vec::new();
    for round in 1..=rounds.max(1) {
        let (o0, c0) = (used(ours), used(cli));
        std::thread::sleep(window);
        let (o, c) = (used(ours) - o0, used(cli) - c0);
        let per = |cpu: f64| cpu / window.as_secs_f64() / n as f64;
        println!(
            "side by side, round {round}: {n} channels each, CPU per channel {:.3} (ours) and {:.3} (CLI) cores, ratio {:.2}",
            per(o),
            per(c),
            o / c.max(1e-9)
        );
        ratios.push(o / c.max(1e-9));
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env = |k: &str, d: u64| common::setting(k, d);
    let window = Duration::from_secs(env("LIVEFLEET_BENCH_SECONDS", 16));
    let max = env("LIVEFLEET_BENCH_MAX_CHANNELS", 40) as usize;
    let step = env("LIVEFLEET_BENCH_STEP", 2) as usize;
    let sbs_channels = env("LIVEFLEET_BENCH_SBS_CHANNELS", 4) as usize;
    let sbs_rounds = env("LIVEFLEET_BENCH_SBS_ROUNDS", 3) as usize;
    let sbs_window = Duration::from_secs(env("LIVEFLEET_BENCH_SBS_SECONDS", 20));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // The published clip: 640x360 30 fps, 2 s GOP, AAC, 30 s (looped).
    let clip = dir.join("clip.flv");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "30"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "60"])
        .args([
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("ladder-profiles/cpu-small.yaml");

    // Both sides at once, a few channels each: CPU per channel under the
    // same host state (the VM's speed drifts between runs in turn).
    let cpu_ratio = {
        let mut ours = Ours::start(&dir.join("sbs-ours"), &profile);
        let mut cli = Cli::start(&dir.join("sbs-cli"));
        side_by_side(
            &mut ours,
            &mut cli,
            &clip,
            sbs_channels,
            sbs_rounds,
            sbs_window,
        )
    };

    // Capacity: channels added until one falls behind, one side after the other.
    let ours = capacity(
        &mut Ours::start(&dir.join("ours"), &profile),
        &clip,
        window,
        max,
        step,
    );
    let cli = capacity(&mut Cli::start(&dir.join("cli")), &clip, window, max, step);

    println!();
    println!("live capacity, cpu-small (360p + 240p ultrafast + AAC), {cores} cores, {window:?} per step");
    println!(
        "livefleet: {ours} channels at real time ({:.2} per core)",
        ours as f64 / cores as f64
    );
    println!(
        "ffmpeg CLI: {cli} channels at real time ({:.2} per core)",
        cli as f64 / cores as f64
    );
    println!(
        "channels ratio (ours / CLI): {:.2}",
        ours as f64 / cli.max(1) as f64
    );
    println!(
        "CPU per channel side by side (ours / CLI, {sbs_channels} channels each, publishers not counted): {cpu_ratio:.2} (median of {sbs_rounds})"
    );
}
