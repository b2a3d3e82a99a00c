//! The fleet on a 3-node NATS cluster: how long a channel's segments stop
//! when the server leading its media stream is killed, and what a replicated
//! media stream costs in bus traffic against a single-copy one.
//!
//! 1. Traffic: one channel's worth of media packets (30 video packets/s of
//!    8 KiB and 47 audio packets/s of 400 bytes, about 2 Mbit/s, each
//!    acknowledged by JetStream as the ingest does) published for
//!    `LIVEFLEET_BENCH_SECONDS` (default 10) into an in-memory stream with 1
//!    and then 3 replicas; the bytes the servers send each other over their
//!    routes are read from `/routez` before and after.
//! 2. Node loss: `livefleet dev` on the cluster with an ffmpeg publisher;
//!    `LIVEFLEET_BENCH_KILLS` times (default 5) the media stream's leader is
//!    killed and the time to the next segment listed in the playlist is
//!    measured; the server is started again before the next kill.
//!
//! Run: `cargo bench --bench bus_node_loss`. Figures only; nothing passes or fails.

#[path = "../tests/common/cluster.rs"]
#[allow(dead_code)]
mod cluster;
#[path = "../tests/common/ports.rs"]
mod ports;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster::NatsCluster;
use ports::free_port;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("livefleet")
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Route bytes per second for one channel of media into a stream of `replicas`.
fn traffic(cluster: &NatsCluster, replicas: usize, seconds: u64) -> (f64, f64) {
    use async_nats::jetstream::stream;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = livefleet_bus::connect(&cluster.nodes[0].url(), "bench")
            .await
            .unwrap();
        let js = livefleet_bus::jetstream(&client).await.unwrap();
        let name = format!("BENCH_R{replicas}");
        js.create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("bench.r{replicas}.>")],
            storage: stream::StorageType::Memory,
            max_age: Duration::from_secs(30),
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let video = bytes::Bytes::from(vec![7u8; 8 << 10]);
        let audio = bytes::Bytes::from(vec![3u8; 400]);
        let before = cluster.route_bytes();
        let start = Instant::now();
        let mut payload = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(13));
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            tick.tick().await;
            n += 1;
            // 77 packets a second: every 13 ms, video on 30 of every 77.
            let body = if n % 77 < 30 {
                video.clone()
            } else {
                audio.clone()
            };
            payload += body.len() as u64;
            let ack = js
                .publish(format!("bench.r{replicas}.data"), body)
                .await
                .unwrap();
            let _ = ack.await;
        }
        let secs = start.elapsed().as_secs_f64();
        let routed = cluster.route_bytes().saturating_sub(before);
        let _ = js.delete_stream(&name).await;
        (payload as f64 / secs, routed as f64 / secs)
    })
}

fn last_number(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("360p/index.m3u8")).ok()?;
    let uri = text
        .lines()
        .rev()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())?;
    uri.split(['.', '-']).next()?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("nats-server is not installed; nothing to measure");
        return;
    }
    let seconds = env_number("LIVEFLEET_BENCH_SECONDS", 10);
    let kills = env_number("LIVEFLEET_BENCH_KILLS", 5);
    let mut cluster = NatsCluster::start(3);

    println!("== bus traffic for one channel (~2 Mbit/s of media), {seconds} s each");
    let (payload1, routed1) = traffic(&cluster, 1, seconds);
    let (payload3, routed3) = traffic(&cluster, 3, seconds);
    println!("media stream replicas 1: payload {:.0} kB/s, through cluster routes {:.0} kB/s ({:.2}x the payload)", payload1 / 1e3, routed1 / 1e3, routed1 / payload1);
    println!("media stream replicas 3: payload {:.0} kB/s, through cluster routes {:.0} kB/s ({:.2}x the payload)", payload3 / 1e3, routed3 / 1e3, routed3 / payload3);
    println!(
        "replicated / single copy: {:.2}x the route traffic",
        routed3 / routed1.max(1.0)
    );

    println!("== bus node loss -> next segment ({kills} kills of the media stream's leader)");
    let dir = tempfile::tempdir().unwrap();
    let rtmp = format!("127.0.0.1:{}", free_port());
    let _dev = Proc(
        Command::new(bin())
            .args([
                "dev",
                "--nats-url",
                &cluster.urls(),
                "--rtmp",
                &rtmp,
                "--http",
                "127.0.0.1:0",
            ])
            .args([
                "--channel",
                "bench",
                "--stream-key",
                "benchkey-1234",
                "--grace",
                "20",
            ])
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("dev.log")).unwrap())
            .spawn()
            .expect("livefleet dev (cargo bench builds it)"),
    );
    std::thread::sleep(Duration::from_secs(3));
    let _publisher = Proc(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "3600"])
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
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv"])
            .arg(format!("rtmp://{rtmp}/live/benchkey-1234"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    );
    let out = dir.path().join("data/live/bench");
    let wait_for = |what: &str, secs: u64, f: &dyn Fn() -> bool| -> Option<f64> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            if f() {
                return Some(start.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        println!("  {what}: nothing within {secs} s");
        None
    };
    wait_for("first segments", 60, &|| {
        last_number(&out).is_some_and(|n| n >= 2)
    });
    let mut gaps = Vec::new();
    for k in 0..kills {
        let Some(leader) = cluster.leader_of("LIVEFLEET_MEDIA") else {
            println!("  no media stream leader; stopping");
            break;
        };
        let before = last_number(&out).unwrap_or(0);
        cluster.kill(leader);
        match wait_for("next segment", 60, &|| {
            last_number(&out).is_some_and(|n| n > before)
        }) {
            Some(t) => {
                println!("  kill {}: n{leader} -> next segment after {t:.2} s", k + 1);
                gaps.push(t);
            }
            None => println!("  kill {}: n{leader} -> no segment", k + 1),
        }
        cluster.restart(leader);
        std::thread::sleep(Duration::from_secs(8));
    }
    gaps.sort_by(f64::total_cmp);
    println!(
        "bus node loss -> next segment: p50 {:.2} s, p95 {:.2} s, {} of {kills} recovered",
        percentile(&gaps, 0.5),
        percentile(&gaps, 0.95),
        gaps.len()
    );
}
