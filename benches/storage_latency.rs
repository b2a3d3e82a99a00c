//! Segment-to-visible latency and upload throughput: the S3 backend against a
//! real S3-compatible server (s3s-fs on loopback) and the local directory,
//! in the same run. 50 simulated channels of 4 renditions each close a
//! segment per rendition (120 KB) every 2 s, at staggered phases, and hand
//! them and then their playlist to a `StorageWriter` of their own, as a live
//! channel does; the latency is from the hand-over to the playlist stored
//! (what a viewer waits for). RSS is printed against the objects stored.
//!
//! `cargo bench --bench storage_latency` (needs `s3s-fs` on PATH; scripts/setup installs it).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{free_port, status_kib, Killed};
use livefleet_storage::{
    LocalDir, Put, S3Config, S3Storage, Storage, StorageMetrics, StorageWriter, WriterOptions,
};

const CHANNELS: usize = 50;
const RENDITIONS: usize = 4;
const ROUNDS: usize = 15;
/// Channels close a segment per rendition every segment duration, at staggered phases.
const SEGMENT: Duration = Duration::from_secs(2);
const SEGMENT_BYTES: usize = 120_000;

/// Runs the channels against `storage`, each through a `StorageWriter` of
/// its own as a live channel does: (latencies, bytes, seconds, RSS samples
/// as (objects stored, KiB)).
async fn run(
    storage: Arc<dyn Storage>,
    options: WriterOptions,
) -> (Vec<Duration>, u64, f64, Vec<(usize, u64)>) {
    let started = Instant::now();
    let stored = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let (stored, samples) = (stored.clone(), samples.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SEGMENT * 3).await;
                let sample = (
                    stored.load(std::sync::atomic::Ordering::Relaxed),
                    status_kib("self", "VmRSS"),
                );
                samples.lock().unwrap().push(sample);
            }
        })
    };
    let mut tasks = Vec::new();
    for ch in 0..CHANNELS {
        let storage = storage.clone();
        let stored = stored.clone();
        let options = options.clone();
        tasks.push(tokio::spawn(async move {
            let writer =
                StorageWriter::spawn(storage, options, StorageMetrics::unregistered().unwrap());
            let body = Bytes::from(vec![(ch % 251) as u8; SEGMENT_BYTES]);
            let mut latencies = Vec::new();
            let phase = SEGMENT * ch as u32 / CHANNELS as u32;
            for round in 0..ROUNDS {
                tokio::time::sleep_until((started + phase + SEGMENT * round as u32).into()).await;
                let t = Instant::now();
                for r in 0..RENDITIONS {
                    let key = format!("live/ch{ch}/r{r}/{round}.m4s");
                    writer
                        .put(Put::new(key, body.clone()))
                        .await
                        .expect("segment queued");
                }
                let key = format!("live/ch{ch}/index.m3u8");
                let playlist = Bytes::from(format!("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:{round}\n"));
                writer
                    .put(Put::new(key, playlist))
                    .await
                    .expect("playlist queued");
                // Stored once everything queued before it is.
                writer.flush().await.expect("flush");
                latencies.push(t.elapsed());
                stored.fetch_add(RENDITIONS + 1, std::sync::atomic::Ordering::Relaxed);
            }
            assert_eq!(writer.failed_puts(), 0, "channel {ch}: puts failed");
            writer.close().await;
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    sampler.abort();
    let samples = samples.lock().unwrap().clone();
    let bytes = (CHANNELS * ROUNDS * RENDITIONS * SEGMENT_BYTES) as u64;
    (all, bytes, secs, samples)
}

/// A store `rtt` away: every call waits one round trip first.
struct Distant {
    inner: Arc<dyn Storage>,
    rtt: Duration,
}

#[async_trait::async_trait]
impl Storage for Distant {
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        meta: livefleet_storage::ObjectMeta,
    ) -> Result<(), livefleet_storage::StorageError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.put(key, body, meta).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, livefleet_storage::StorageError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), livefleet_storage::StorageError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, livefleet_storage::StorageError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.list(prefix).await
    }
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(
    name: &str,
    (mut lat, bytes, secs, samples): (Vec<Duration>, u64, f64, Vec<(usize, u64)>),
) -> (f64, f64) {
    lat.sort();
    let (p50, p95) = (quantile(&lat, 0.5), quantile(&lat, 0.95));
    println!(
        "{name:<6} segment-to-visible p50 {p50:7.1} ms  p95 {p95:7.1} ms  throughput {:7.1} MB/s  peak RSS {} MiB",
        bytes as f64 / secs / 1e6,
        status_kib("self", "VmHWM") / 1024
    );
    let curve: Vec<String> = samples
        .iter()
        .map(|(n, kib)| format!("{n}:{}MiB", kib / 1024))
        .collect();
    println!("{name:<6} RSS by objects stored: {}", curve.join(" "));
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
        "{CHANNELS} channels x {RENDITIONS} renditions, a segment each per {SEGMENT:?} for {ROUNDS} rounds, {} KB segments, a writer per channel",
        SEGMENT_BYTES / 1000
    );
    let local: Arc<dyn Storage> = Arc::new(LocalDir::new(dir.path().join("local")).unwrap());
    let (_, local_p95) = report(
        "local",
        runtime.block_on(run(local, WriterOptions::default())),
    );
    let s3 = runtime.block_on(async {
        let mut config = S3Config::new("bench", "");
        config.endpoint = Some(format!("http://127.0.0.1:{port}"));
        S3Storage::connect(config).await.unwrap()
    });
    let s3: Arc<dyn Storage> = Arc::new(s3);
    let (_, s3_p95) = report(
        "s3",
        runtime.block_on(run(s3.clone(), WriterOptions::default())),
    );
    // Storing a step's segments 4 at once against one at a time (the writer
    // before): on loopback, and behind 20 ms of round trip as to a store in
    // another network.
    let one_at_a_time = WriterOptions {
        parallel: 1,
        ..WriterOptions::default()
    };
    let (_, serial_p95) = report(
        "s3x1",
        runtime.block_on(run(s3.clone(), one_at_a_time.clone())),
    );
    let far: Arc<dyn Storage> = Arc::new(Distant {
        inner: s3,
        rtt: Duration::from_millis(20),
    });
    let (_, far_p95) = report(
        "far",
        runtime.block_on(run(far.clone(), WriterOptions::default())),
    );
    let (_, far_serial_p95) = report("far x1", runtime.block_on(run(far, one_at_a_time)));
    println!(
        "p95 one at a time / 4 at once: loopback {:.2}x, 20 ms away {:.2}x",
        serial_p95 / s3_p95,
        far_serial_p95 / far_p95
    );
    println!(
        "s3 p95 - local p95: {:+.1} ms (target: within 100 ms on loopback); objects stored per backend: {}",
        s3_p95 - local_p95,
        CHANNELS * ROUNDS * (RENDITIONS + 1)
    );
}
