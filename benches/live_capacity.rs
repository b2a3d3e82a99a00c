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
//! channel is measured from the times its new segments appear (media
//! seconds per wall second). The step where any channel falls below
//! real time ends the run. Prints channels per core for both and the ratio.
//!
//! Run: `cargo bench --bench live_capacity` (needs nats-server, nginx-light
//! and libnginx-mod-rtmp; LIVEFLEET_BENCH_SECONDS sets the measuring window
//! per step, default 16; LIVEFLEET_BENCH_STEP the channels added per step,
//! default 2; LIVEFLEET_BENCH_MAX_CHANNELS the most, default 40). Figures
//! only; nothing here passes or fails.

mod common;

use common::{free_port, Killed};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A channel keeps real time when its segments come at least this fast.
const REAL_TIME: f64 = 0.97;
const WARM_UP: Duration = Duration::from_secs(6);
const SEGMENT: f64 = 2.0;

fn spawn(cmd: &mut Command, what: &str) -> Killed {
    Killed(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}")),
    )
}

fn livefleet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_livefleet"))
}

/// Watches a directory for new numbered segment files and records when each appeared.
struct Watch {
    dir: PathBuf,
    seen: HashMap<String, Instant>,
}

impl Watch {
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
    }

    /// Media seconds per wall second over the segments that appeared in `[from, to]`.
    fn speed(&self, from: Instant, to: Instant) -> f64 {
        let mut times: Vec<Instant> = self
            .seen
            .values()
            .copied()
            .filter(|t| *t >= from && *t <= to)
            .collect();
        times.sort();
        match (times.first(), times.last()) {
            (Some(a), Some(b)) if times.len() >= 3 => {
                (times.len() - 1) as f64 * SEGMENT / (*b - *a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// One side of the comparison: adds a channel, says where its segments land.
trait Side {
    fn name(&self) -> &'static str;
    fn add(&mut self, n: usize, clip: &Path) -> PathBuf;
}

struct Ours {
    nats_url: String,
    rtmp: u16,
    data: PathBuf,
    profile: PathBuf,
    procs: Vec<Killed>,
}

impl Side for Ours {
    fn name(&self) -> &'static str {
        "livefleet (1 worker)"
    }

    fn add(&mut self, n: usize, clip: &Path) -> PathBuf {
        let key = format!("capacity-key-{n:04}");
        let ok = livefleet()
            .args([
                "channel",
                "create",
                &format!("ch{n}"),
                "--nats-url",
                &self.nats_url,
            ])
            .args(["--stream-key", &key])
            .arg("--profile")
            .arg(&self.profile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("livefleet channel create")
            .success();
        assert!(ok, "channel create failed");
        std::thread::sleep(Duration::from_millis(500));
        self.procs.push(publisher(
            clip,
            &format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp),
        ));
        self.data.join(format!("live/ch{n}/360p"))
    }
}

struct Cli {
    rtmp: u16,
    out: PathBuf,
    procs: Vec<Killed>,
}

impl Side for Cli {
    fn name(&self) -> &'static str {
        "ffmpeg CLI per channel"
    }

    fn add(&mut self, n: usize, clip: &Path) -> PathBuf {
        let url = format!("rtmp://127.0.0.1:{}/live/ch{n}", self.rtmp);
        self.procs.push(publisher(clip, &url));
        std::thread::sleep(Duration::from_millis(700));
        let out = self.out.join(format!("ch{n}"));
        std::fs::create_dir_all(out.join("v0")).unwrap();
        std::fs::create_dir_all(out.join("v1")).unwrap();
        let o = out.display();
        self.procs.push(spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-i", &url])
                .args([
                    "-filter_complex",
                    "[0:v]split=2[a][b];[a]scale=640:360[v0];[b]scale=426:240[v1]",
                ])
                .args(["-map", "[v0]", "-map", "[v1]", "-map", "0:a"])
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-profile:v",
                    "main",
                ])
                .args(["-b:v:0", "730k", "-b:v:1", "300k"])
                .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
                .args(["-c:a", "aac", "-b:a", "96k", "-ar", "48000", "-ac", "2"])
                .args(["-f", "hls", "-hls_time", "2", "-hls_list_size", "6"])
                .args(["-hls_segment_type", "fmp4"])
                .args(["-var_stream_map", "v:0,a:0 v:1"])
                .args(["-hls_segment_filename", &format!("{o}/v%v/%d.m4s")])
                .arg(format!("{o}/v%v/index.m3u8")),
            "ffmpeg CLI",
        ));
        out.join("v0")
    }
}

fn publisher(clip: &Path, url: &str) -> Killed {
    spawn(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
            ])
            .arg(clip)
            .args(["-c", "copy", "-f", "flv", url]),
        "publisher",
    )
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

/// Adds channels (`step` at a time) until one falls below real time;
/// returns the most kept at real time.
fn capacity(side: &mut dyn Side, clip: &Path, window: Duration, max: usize, step: usize) -> usize {
    let mut watches: Vec<Watch> = Vec::new();
    let mut kept = 0;
    while watches.len() < max {
        for _ in 0..step.min(max - watches.len()) {
            let n = watches.len() + 1;
            let dir = side.add(n, clip);
            watches.push(Watch {
                dir,
                seen: HashMap::new(),
            });
        }
        let n = watches.len();
        let from = Instant::now() + WARM_UP;
        let to = from + window;
        let mut busy = None;
        while Instant::now() < to {
            if busy.is_none() && Instant::now() >= from {
                busy = Some(cpu_jiffies());
            }
            for w in &mut watches {
                w.poll();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (b0, t0) = busy.unwrap_or_default();
        let (b1, t1) = cpu_jiffies();
        let load = (b1 - b0) as f64 / (t1 - t0).max(1) as f64;
        let speeds: Vec<f64> = watches.iter().map(|w| w.speed(from, to)).collect();
        let slowest = speeds.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "{:<24} {n:>3} channels: slowest {slowest:.2}x real time, CPU {:.0}% busy",
            side.name(),
            load * 100.0
        );
        if slowest < REAL_TIME {
            break;
        }
        kept = n;
    }
    kept
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let window = Duration::from_secs(env("LIVEFLEET_BENCH_SECONDS", 16));
    let max = env("LIVEFLEET_BENCH_MAX_CHANNELS", 40) as usize;
    let step = env("LIVEFLEET_BENCH_STEP", 2) as usize;
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

    // livefleet: nats-server, ingest, one worker running every channel.
    let ours = {
        let nats_port = free_port();
        let nats = spawn(
            Command::new("nats-server")
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &nats_port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(dir.join("nats")),
            "nats-server",
        );
        std::thread::sleep(Duration::from_secs(1));
        let nats_url = format!("nats://127.0.0.1:{nats_port}");
        let rtmp = free_port();
        let data = dir.join("ours");
        let ingest = spawn(
            livefleet()
                .args(["ingest", "--no-scheduler", "--nats-url", &nats_url])
                .args(["--rtmp", &format!("127.0.0.1:{rtmp}")])
                .args(["--metrics", "127.0.0.1:0"]),
            "livefleet ingest",
        );
        let worker = spawn(
            livefleet()
                .args(["worker", "--all-channels", "--nats-url", &nats_url])
                .arg("--data")
                .arg(&data),
            "livefleet worker",
        );
        std::thread::sleep(Duration::from_secs(2));
        let mut side = Ours {
            nats_url,
            rtmp,
            data,
            profile: profile.clone(),
            procs: vec![nats, ingest, worker],
        };
        let kept = capacity(&mut side, &clip, window, max, step);
        drop(side);
        kept
    };

    // The CLI: nginx-rtmp relaying, one ffmpeg per channel.
    let cli = {
        let port = free_port();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\nevents {{ worker_connections 256; }}\nrtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; }} }} }}\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let nginx = spawn(
            Command::new("nginx")
                .arg("-c")
                .arg(&conf)
                .arg("-p")
                .arg(dir),
            "nginx (apt-get install nginx-light libnginx-mod-rtmp)",
        );
        std::thread::sleep(Duration::from_secs(1));
        let mut side = Cli {
            rtmp: port,
            out: dir.join("cli"),
            procs: vec![nginx],
        };
        let kept = capacity(&mut side, &clip, window, max, step);
        drop(side);
        kept
    };

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
}
