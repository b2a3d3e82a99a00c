//! Segment-to-visible latency and upload throughput: the S3 backend against a
//! real S3-compatible server (s3s-fs on loopback) and the local directory,
//! in the same run. 50 simulated channels of 4 renditions each close a
//! segment per rendition (120 KB) every 2 s, at staggered phases, and then
//! store their playlist;
//! the latency is from the round's start to the playlist stored (what a
//! viewer waits for). Peak RSS is printed against the objects stored.
//!
//! `cargo bench --bench storage_latency` (needs `s3s-fs` on PATH; scripts/setup installs it).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{free_port, Killed};
use livefleet_storage::{LocalDir, ObjectMeta, S3Config, S3Storage, Storage};

const CHANNELS: usize = 50;
const RENDITIONS: usize = 4;
const ROUNDS: usize = 10;
/// Channels close a segment per rendition every segment duration, at staggered phases.
const SEGMENT: Duration = Duration::from_secs(2);
const SEGMENT_BYTES: usize = 120_000;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the channels against `storage`: (latencies, bytes, seconds).
async fn run(storage: Arc<dyn Storage>) -> (Vec<Duration>, u64, f64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for ch in 0..CHANNELS {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let body = Bytes::from(vec![(ch % 251) as u8; SEGMENT_BYTES]);
            let mut latencies = Vec::new();
            let phase = SEGMENT * ch as u32 / CHANNELS as u32;
            for round in 0..ROUNDS {
                tokio::time::sleep_until((started + phase + SEGMENT * round as u32).into()).await;
                let t = Instant::now();
                let puts = (0..RENDITIONS).map(|r| {
                    let key = format!("live/ch{ch}/r{r}/{round}.m4s");
                    let storage = storage.clone();
                    let body = body.clone();
                    async move { storage.put(&key, body, ObjectMeta::for_key(&key)).await }
                });
                for r in futures::future::join_all(puts).await {
                    r.expect("segment put");
                }
                let key = format!("live/ch{ch}/index.m3u8");
                let playlist = Bytes::from(format!("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:{round}\n"));
                storage
                    .put(&key, playlist, ObjectMeta::for_key(&key))
                    .await
                    .expect("playlist put");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let bytes = (CHANNELS * ROUNDS * RENDITIONS * SEGMENT_BYTES) as u64;
    (all, bytes, started.elapsed().as_secs_f64())
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut lat: Vec<Duration>, bytes: u64, secs: f64) -> (f64, f64) {
    lat.sort();
    let (p50, p95) = (quantile(&lat, 0.5), quantile(&lat, 0.95));
    println!(
        "{name:<6} segment-to-visible p50 {p50:7.1} ms  p95 {p95:7.1} ms  throughput {:7.1} MB/s  peak RSS {} MiB",
        bytes as f64 / secs / 1e6,
        peak_rss_kib() / 1024
    );
    (p50, p95)
}

fn main() {
    if std::process::Command::new("s3s-fs")
        .arg("--help")
        .output()
        .is_err()
    {
        println!("storage_latency: s3s-fs is not on PATH (cargo install --locked s3s-fs@0.14.1 --features binary); nothing measured");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s3_root = dir.path().join("s3");
    std::fs::create_dir_all(s3_root.join("bench")).unwrap();
    let port = free_port();
    let _server = Killed(
        std::process::Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                "bench",
                "--secret-key",
                "bench-secret-0123456789",
            ])
            .arg(&s3_root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench-secret-0123456789");
    std::env::set_var("AWS_REGION", "us-east-1");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "{CHANNELS} channels x {RENDITIONS} renditions, a segment each per {SEGMENT:?} for {ROUNDS} rounds, {} KB segments, a channel's puts in parallel",
        SEGMENT_BYTES / 1000
    );
    let local: Arc<dyn Storage> = Arc::new(LocalDir::new(dir.path().join("local")).unwrap());
    let (lat, bytes, secs) = runtime.block_on(run(local));
    let (_, local_p95) = report("local", lat, bytes, secs);
    let s3 = runtime.block_on(async {
        let mut config = S3Config::new("bench", "");
        config.endpoint = Some(format!("http://127.0.0.1:{port}"));
        S3Storage::connect(config).await.unwrap()
    });
    let (lat, bytes, secs) = runtime.block_on(run(Arc::new(s3)));
    let (_, s3_p95) = report("s3", lat, bytes, secs);
    println!(
        "s3 p95 - local p95: {:+.1} ms (target: within 100 ms on loopback); objects stored per backend: {}",
        s3_p95 - local_p95,
        CHANNELS * ROUNDS * (RENDITIONS + 1)
    );
}
