//! Ingest-to-playlist latency, side by side with nginx-rtmp in the same run.
//!
//! One paced publisher (`ffmpeg -re`, 640x360 30 fps, 2 s GOP, AAC) feeds both
//! servers at once through ffmpeg's tee muxer: `livefleet dev` transcoding a
//! 3-rendition ladder, and Debian's nginx-rtmp writing HLS with 2 s fragments
//! (remux only). For every new segment of each, the latency is the time it
//! is listed in the playlist minus (publish start + the segment's media end
//! time). Prints p50/p95 of both and the difference.
//!
//! Run: `cargo bench --bench ingest_latency` (needs nginx-light and
//! libnginx-mod-rtmp; LIVEFLEET_BENCH_SECONDS sets the publish length,
//! default 40). Figures only; nothing here passes or fails.

mod common;

use common::{free_port, Killed};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LADDER: &str = "name: bench-3\nsegment_duration: 2\ngop: 2\nencoder: x264\npreset: p1\naudio:\n  - name: audio\n    bitrate: 96k\nvideo:\n  - name: 360p\n    width: 640\n    height: 360\n    bitrate: 730k\n  - name: 270p\n    width: 480\n    height: 270\n    bitrate: 450k\n  - name: 180p\n    width: 320\n    height: 180\n    bitrate: 250k\n";

/// (segment uri, media end time in seconds) for the segments of a playlist.
/// A live playlist slides, so media time is anchored on a segment whose end
/// is already `known` (seen when it was the newest); before the window first
/// slides, the sum from the top is the media time.
fn segment_ends(playlist: &str, known: &HashMap<String, f64>) -> Vec<(String, f64)> {
    let mut entries = Vec::new();
    let mut pending = None;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            pending = d
                .trim_end_matches(',')
                .split(',')
                .next()
                .and_then(|d| d.parse::<f64>().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            if let Some(d) = pending.take() {
                entries.push((line.trim().to_string(), d));
            }
        }
    }
    let anchor = entries.iter().rposition(|(u, _)| known.contains_key(u));
    let (mut end, from) = match anchor {
        Some(i) => (known[&entries[i].0], i + 1),
        None => (0.0, 0),
    };
    let mut out = Vec::new();
    for (uri, d) in entries.into_iter().skip(from) {
        end += d;
        out.push((uri, end));
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: u64 = std::env::var("LIVEFLEET_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // nginx-rtmp, HLS with 2 s fragments.
    let nginx_port = free_port();
    let hls = dir.join("nginx-hls");
    std::fs::create_dir_all(&hls).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\nevents {{ worker_connections 64; }}\nrtmp {{ server {{ listen 127.0.0.1:{nginx_port}; application live {{ live on; hls on; hls_path {h}; hls_fragment 2s; hls_playlist_length 60s; }} }} }}\n",
            d = dir.display(),
            h = hls.display()
        ),
    )
    .unwrap();
    let _nginx = Killed(
        Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx-light libnginx-mod-rtmp)"),
    );

    // livefleet dev with a 3-rendition ladder.
    let profile = dir.join("ladder.yaml");
    std::fs::write(&profile, LADDER).unwrap();
    let data = dir.join("livefleet");
    let mut dev = Command::new(env!("CARGO_BIN_EXE_livefleet"))
        .args([
            "dev",
            "--rtmp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--channel",
            "bench",
            "--stream-key",
            "bench-key-123",
            "--grace",
            "2",
        ])
        .arg("--profile")
        .arg(&profile)
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("livefleet dev");
    let mut ours_url = String::new();
    for line in std::io::BufReader::new(dev.stdout.take().unwrap()).lines() {
        let line = line.unwrap_or_default();
        if let Some(u) = line.trim().strip_prefix("publish:") {
            ours_url = u.trim().to_string();
            break;
        }
    }
    let _dev = Killed(dev);
    std::thread::sleep(Duration::from_secs(2));

    // One paced publisher into both.
    let tee = format!("[f=flv:onfail=ignore]{ours_url}|[f=flv:onfail=ignore]rtmp://127.0.0.1:{nginx_port}/live/bench");
    let start = Instant::now();
    let publisher = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
        ])
        .args(["-t", &secs.to_string(), "-map", "0:v", "-map", "1:a"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            // The tee muxer does not ask encoders for global headers; without
            // this the FLV sequence headers would be empty for both servers.
            "-flags",
            "+global_header",
        ])
        .args(["-c:a", "aac", "-f", "tee", &tee])
        .spawn()
        .expect("ffmpeg");
    let mut publisher = Killed(publisher);

    let ours_playlist = data.join("live/bench/360p/index.m3u8");
    let nginx_playlist = hls.join("bench.m3u8");
    let mut seen: HashMap<&str, HashMap<String, f64>> = HashMap::new();
    let mut latencies: HashMap<&str, Vec<f64>> = HashMap::new();
    let poll = |name: &'static str,
                path: &Path,
                seen: &mut HashMap<&str, HashMap<String, f64>>,
                lat: &mut HashMap<&str, Vec<f64>>| {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let now = start.elapsed().as_secs_f64();
        let known = seen.entry(name).or_default();
        for (uri, end) in segment_ends(&text, known) {
            if let std::collections::hash_map::Entry::Vacant(e) = known.entry(uri) {
                e.insert(end);
                lat.entry(name).or_default().push(now - end);
            }
        }
    };
    let deadline = Duration::from_secs(secs + 8);
    while start.elapsed() < deadline {
        poll("livefleet", &ours_playlist, &mut seen, &mut latencies);
        poll("nginx-rtmp", &nginx_playlist, &mut seen, &mut latencies);
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(Some(_)) = publisher.0.try_wait() {
            if start.elapsed() > Duration::from_secs(secs + 4) {
                break;
            }
        }
    }
    println!("ingest-to-playlist latency (listed - (publish start + segment media end)), {secs} s publish, 2 s segments");
    println!("{:<12} {:>8} {:>8} {:>8}", "", "count", "p50 s", "p95 s");
    let mut p50 = HashMap::new();
    for name in ["livefleet", "nginx-rtmp"] {
        let mut v = latencies.remove(name).unwrap_or_default();
        // The first segment includes connection set-up for both; keep it, it is part of the experience.
        let (a, b) = (percentile(&mut v, 0.5), percentile(&mut v, 0.95));
        p50.insert(name, a);
        println!("{name:<12} {:>8} {a:>8.2} {b:>8.2}", v.len());
    }
    println!("livefleet p50 - nginx-rtmp p50: {:+.2} s (livefleet transcodes 3 renditions; nginx-rtmp remuxes)", p50["livefleet"] - p50["nginx-rtmp"]);
}
