//! The fleet on the real system: publish-to-first-segment time, and failover
//! time (kill -9 of the worker running a channel to the next segment listed
//! in its playlist), over repeated kills.
//!
//! Processes: nats-server, one `livefleet scheduler`, three `livefleet
//! worker`s, one `livefleet ingest`, an `ffmpeg -re` publisher (640x360
//! 30 fps, 2 s GOP, AAC) on the small CPU profile. Every killed worker is
//! started again, so two are always alive.
//!
//! Side by side: publish-to-first-playlist of nginx-rtmp (HLS, 2 s fragments,
//! remux only) fed by the same kind of publisher, when nginx with the RTMP
//! module is installed. No open-source peer fails a live channel over to
//! another node, so failover has no peer figure.
//!
//! Run: `cargo bench --bench fleet_failover` (LIVEFLEET_BENCH_KILLS, default
//! 10; LIVEFLEET_BENCH_STARTS, default 5). Figures only; nothing passes or fails.

mod common;

use common::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> PathBuf {
    // cargo bench builds the binary next to the bench executable's directory.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("livefleet")
}

fn spawn(cmd: &mut Command, log: &Path) -> Proc {
    Proc(
        cmd.env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}")),
    )
}

fn publisher(url: &str, secs: u32) -> Proc {
    Proc(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=sample_rate=48000",
                "-t",
                &secs.to_string(),
            ])
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
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    )
}

fn segments(playlist: &Path) -> usize {
    std::fs::read_to_string(playlist).map_or(0, |t| {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count()
    })
}

/// Number of the newest listed segment (`12-g3.m4s` is 12): the live window
/// keeps the count constant, the number keeps rising.
fn newest(playlist: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(playlist).ok()?;
    let last = text
        .lines()
        .rev()
        .find(|l| !l.starts_with('#') && !l.is_empty())?;
    last.split(['-', '.']).next()?.parse().ok()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn owner(nats: &str, channel: &str) -> Option<String> {
    let out = Command::new(bin())
        .args([
            "fleet",
            "status",
            "--json",
            "--listen",
            "1.2",
            "--nats-url",
            nats,
        ])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["workers"].as_array()?.iter().find_map(|w| {
        w["channels"]
            .as_array()?
            .iter()
            .any(|c| c["channel"] == channel && c["running"] == true)
            .then(|| w["id"].as_str().unwrap_or_default().to_string())
    })
}

fn nginx_first_playlist(starts: usize) -> Vec<f64> {
    let module = [
        "/usr/lib/nginx/modules/ngx_rtmp_module.so",
        "/usr/share/nginx/modules/ngx_rtmp_module.so",
    ]
    .into_iter()
    .find(|m| Path::new(m).exists());
    let (Some(module), true) = (module, Path::new("/usr/sbin/nginx").exists()) else {
        println!("nginx-rtmp not installed: no peer figure");
        return Vec::new();
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hls = dir.path().join("hls");
    std::fs::create_dir_all(&hls).unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module {module};\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nrtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; hls on; hls_path {h}; hls_fragment 2s; hls_playlist_length 12s; }} }} }}\n",
            d = dir.path().display(),
            h = hls.display()
        ),
    )
    .unwrap();
    let _nginx = spawn(
        Command::new("/usr/sbin/nginx").args([
            "-c",
            conf.to_str().unwrap(),
            "-p",
            dir.path().to_str().unwrap(),
        ]),
        &dir.path().join("stderr.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    for i in 0..starts {
        let name = format!("s{i}");
        let _p = publisher(&format!("rtmp://127.0.0.1:{port}/live/{name}"), 12);
        let playlist = hls.join(format!("{name}.m3u8"));
        if let Some(t) = wait_until(Duration::from_secs(15), || segments(&playlist) >= 1) {
            times.push(t.as_secs_f64());
        }
    }
    times
}

fn main() {
    let kills: usize = std::env::var("LIVEFLEET_BENCH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let starts: usize = std::env::var("LIVEFLEET_BENCH_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let profile = root.join("ladder-profiles/cpu-small.yaml");
    let nats_port = free_port();
    let nats = format!("nats://127.0.0.1:{nats_port}");
    let rtmp = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let _nats = spawn(
        Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &nats_port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(dir.path().join("js")),
        &dir.path().join("nats.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let _scheduler = spawn(
        Command::new(bin()).args(["scheduler", "--nats-url", &nats, "--metrics", "127.0.0.1:0"]),
        &dir.path().join("s.log"),
    );
    let worker = |id: &str| {
        spawn(
            Command::new(bin())
                .args([
                    "worker",
                    "--nats-url",
                    &nats,
                    "--id",
                    id,
                    "--grace",
                    "3",
                    "--metrics",
                    "127.0.0.1:0",
                    "--data",
                ])
                .arg(&data),
            &dir.path()
                .join(format!("{id}-{}.log", Instant::now().elapsed().as_nanos())),
        )
    };
    let mut workers: Vec<(String, Proc)> = ["w1", "w2", "w3"]
        .iter()
        .map(|id| (id.to_string(), worker(id)))
        .collect();
    let _ingest = spawn(
        Command::new(bin()).args([
            "ingest",
            "--nats-url",
            &nats,
            "--rtmp",
            &rtmp,
            "--metrics",
            "127.0.0.1:0",
        ]),
        &dir.path().join("ingest.log"),
    );
    std::thread::sleep(Duration::from_secs(3));

    // Publish to first segment, on fresh channels.
    let mut first = Vec::new();
    for i in 0..starts {
        let name = format!("start{i}");
        let created = Command::new(bin())
            .args([
                "channel",
                "create",
                &name,
                "--stream-key",
                &format!("key-{name}-123"),
                "--nats-url",
                &nats,
                "--profile",
            ])
            .arg(&profile)
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        let _p = publisher(&format!("rtmp://{rtmp}/live/key-{name}-123"), 12);
        let playlist = data.join("live").join(&name).join("360p/index.m3u8");
        match wait_until(Duration::from_secs(20), || segments(&playlist) >= 1) {
            Some(t) => first.push(t.as_secs_f64()),
            None => println!("{name}: no first segment within 20 s"),
        }
    }
    let peer = nginx_first_playlist(starts);

    // Failover: one long broadcast, kill its worker repeatedly.
    let created = Command::new(bin())
        .args([
            "channel",
            "create",
            "fo",
            "--stream-key",
            "key-fo-123456",
            "--nats-url",
            &nats,
            "--profile",
        ])
        .arg(&profile)
        .output()
        .unwrap();
    assert!(created.status.success());
    let _p = publisher(
        &format!("rtmp://{rtmp}/live/key-fo-123456"),
        (kills as u32 + 2) * 20,
    );
    let playlist = data.join("live/fo/360p/index.m3u8");
    wait_until(Duration::from_secs(30), || segments(&playlist) >= 2)
        .expect("the failover channel never started");
    let mut failovers = Vec::new();
    for k in 0..kills {
        let Some(id) = (0..20).find_map(|_| owner(&nats, "fo")) else {
            println!("kill {k}: nobody runs the channel");
            break;
        };
        let before = newest(&playlist);
        let i = workers
            .iter()
            .position(|(w, _)| *w == id)
            .expect("owner is one of ours");
        let (_, victim) = workers.remove(i);
        drop(victim); // SIGKILL
        match wait_until(Duration::from_secs(20), || newest(&playlist) > before) {
            Some(t) => {
                println!(
                    "kill {k}: {id} killed, next segment after {:.2} s",
                    t.as_secs_f64()
                );
                failovers.push(t.as_secs_f64());
            }
            None => println!("kill {k}: no segment within 20 s"),
        }
        workers.push((id.clone(), worker(&id)));
        std::thread::sleep(Duration::from_secs(4));
    }

    println!();
    println!("publish-to-first-segment (livefleet, transcoding 360p+240p+AAC): p50 {:.2} s  p95 {:.2} s  (n={})", percentile(&mut first.clone(), 0.5), percentile(&mut first, 0.95), starts);
    if !peer.is_empty() {
        let (p50, p95) = (
            percentile(&mut peer.clone(), 0.5),
            percentile(&mut peer.clone(), 0.95),
        );
        println!("publish-to-first-playlist (nginx-rtmp, remux only):            p50 {p50:.2} s  p95 {p95:.2} s  (n={})", peer.len());
    }
    println!("target: at most one segment (2 s) + 1.5 s = 3.5 s");
    let n = failovers.len();
    println!(
        "failover, kill -9 to next segment: p50 {:.2} s  p95 {:.2} s  max {:.2} s  (n={n}/{kills}); target p95 <= 6 s",
        percentile(&mut failovers.clone(), 0.5),
        percentile(&mut failovers.clone(), 0.95),
        failovers.iter().copied().fold(f64::NAN, f64::max)
    );
}
