//! Chat fan-out: `livefleet chat` (release build) with WebSocket clients,
//! side by side with plain NATS subscribers on the same nats-server, under
//! the same load, in the same run.
//!
//! Two shapes: 5,000 clients in one channel, and 100 channels of 50 clients.
//! The total publish rate steps through 10, 20, 50, 100 and 200 messages a
//! second, each step held 10 s (`LIVEFLEET_BENCH_STEP_S` to change). Per
//! step it prints deliveries per second, p50 / p99 delivery latency (publish
//! to a client's receipt) and losses, for the relay and for plain NATS; and
//! the relay's and nats-server's RSS per idle connection. The load generator
//! runs on the same 2 cores.
//!
//! Each plain NATS subscriber has a connection of its own, as each
//! WebSocket client has: the server writes to as many sockets either way.
//!
//! `cargo bench --bench chat_fanout`.

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, Killed};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "bench-chat-secret-0123456789abcdef0123";
const RATES: [u64; 5] = [10, 20, 50, 100, 200];

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn rss_kib(pid: u32) -> u64 {
    common::status_kib(&pid.to_string(), "VmRSS")
}

/// CPU seconds (user + system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|x| x.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the receivers saw during one step (latencies in shards, so the
/// load generator's receivers do not queue on one lock).
struct Tally {
    received: AtomicU64,
    shards: Vec<Mutex<Vec<u32>>>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            received: AtomicU64::new(0),
            shards: (0..64).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }
}

impl Tally {
    fn record(&self, receiver: usize, sent_us: u64) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let l = now_us().saturating_sub(sent_us).min(u64::from(u32::MAX)) as u32;
        if let Ok(mut v) = self.shards[receiver % self.shards.len()].lock() {
            v.push(l);
        }
    }

    fn take(&self) -> (u64, Vec<u32>) {
        let n = self.received.swap(0, Ordering::Relaxed);
        let mut all = Vec::new();
        for s in &self.shards {
            all.append(&mut s.lock().unwrap());
        }
        all.sort_unstable();
        (n, all)
    }
}

/// The send time a message carries: `"t=<micros>;"` in its text.
fn stamp(text: &str) -> Option<u64> {
    let at = text.find("t=")? + 2;
    let end = text[at..].find(';')? + at;
    text[at..end].parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

struct Step {
    rate: u64,
    /// Cores the server process (relay or nats-server) kept busy.
    cores: f64,
    sent: u64,
    received: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Step {
    /// Every message goes to one channel of `per_channel` receivers.
    fn expected(&self, per_channel: u64) -> u64 {
        self.sent * per_channel
    }
}

fn report(name: &str, steps: &[Step], per_channel: u64) {
    for s in steps {
        let lost = s.expected(per_channel).saturating_sub(s.received);
        println!(
            "  {name:<6} {:>4} msg/s: {:>9.0} deliveries/s, p50 {:>7.1} ms, p99 {:>7.1} ms, lost {lost} of {}, server {:.2} cores",
            s.rate,
            s.received as f64 / s.seconds,
            s.p50_ms,
            s.p99_ms,
            s.expected(per_channel),
            s.cores
        );
    }
}

/// The relay: `clients` WebSocket clients over `channels` channels.
async fn relay_run(
    url: &str,
    channels: usize,
    clients: usize,
    relay_pid: u32,
    step: Duration,
) -> (Vec<Step>, f64) {
    let tally = Arc::new(Tally::default());
    let before = rss_kib(relay_pid);
    let mut readers = Vec::new();
    let mut connect = futures::stream::iter(0..clients)
        .map(|i| {
            let url = url.to_owned();
            async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
                let channel = format!("ch{}", i % channels);
                let cmds = format!(
                    "{{\"id\":1,\"connect\":{{}}}}\n{{\"id\":2,\"subscribe\":{{\"channel\":\"{channel}\"}}}}"
                );
                ws.send(Message::text(cmds)).await.unwrap();
                let mut subscribed = false;
                while !subscribed {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) => subscribed = t.contains("\"id\":2"),
                        other => panic!("subscribe failed: {other:?}"),
                    }
                }
                ws
            }
        })
        .buffer_unordered(64);
    while let Some(ws) = connect.next().await {
        let tally = tally.clone();
        let me = readers.len();
        readers.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(t) = m {
                    for line in t.lines() {
                        if line == "{}" {
                            let _ = tx.send(Message::text("{}")).await;
                        } else if line.contains("\"pub\"") {
                            if let Some(at) = stamp(line) {
                                tally.record(me, at);
                            }
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_idle = (rss_kib(relay_pid).saturating_sub(before)) as f64 * 1024.0 / clients as f64;
    let token = livefleet_chat::TokenKey::new(SECRET).unwrap().issue(
        "bench",
        None,
        false,
        now_us() as i64 / 1_000_000,
        Some(3600),
    );
    let (mut publisher, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .unwrap();
    publisher
        .send(Message::text(format!(
            "{{\"id\":1,\"connect\":{{\"token\":\"{token}\"}}}}"
        )))
        .await
        .unwrap();
    let (mut ptx, mut prx) = publisher.split();
    let acks = Arc::new(AtomicU64::new(0));
    let a = acks.clone();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = prx.next().await {
            a.fetch_add(
                t.lines().filter(|l| l.contains("\"publish\":{}")).count() as u64,
                Ordering::Relaxed,
            );
        }
    });
    let mut steps = Vec::new();
    let mut id = 10u64;
    for rate in RATES {
        tally.take();
        let started = Instant::now();
        let cpu = cpu_seconds(relay_pid);
        let total = rate * step.as_secs().max(1);
        for k in 0..total {
            tokio::time::sleep_until(
                (started + Duration::from_secs_f64(k as f64 / rate as f64)).into(),
            )
            .await;
            id += 1;
            let channel = format!("ch{}", k as usize % channels);
            let cmd = format!(
                "{{\"id\":{id},\"publish\":{{\"channel\":\"{channel}\",\"data\":{{\"text\":\"t={};\"}}}}}}",
                now_us()
            );
            ptx.send(Message::text(cmd)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cores = (cpu_seconds(relay_pid) - cpu) / started.elapsed().as_secs_f64();
        let seconds = started.elapsed().as_secs_f64() - 2.0;
        let (received, lat) = tally.take();
        steps.push(Step {
            rate,
            cores,
            sent: total,
            received,
            seconds,
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
        });
    }
    for r in readers {
        r.abort();
    }
    (steps, per_idle)
}

/// Plain NATS: `clients` subscribers, each on a connection of its own (as
/// each WebSocket client is), one subject per channel.
async fn nats_run(
    url: &str,
    channels: usize,
    clients: usize,
    nats_pid: u32,
    step: Duration,
) -> (Vec<Step>, f64) {
    let tally = Arc::new(Tally::default());
    let before = rss_kib(nats_pid);
    let connections = clients;
    let conns: Vec<async_nats::Client> = futures::stream::iter(0..connections)
        .map(|_| async { async_nats::connect(url).await.expect("nats") })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut sub = conns[i % connections]
            .subscribe(format!("bench.ch{}", i % channels))
            .await
            .unwrap();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(at) = stamp(&String::from_utf8_lossy(&m.payload)) {
                    tally.record(i, at);
                }
            }
        }));
    }
    for c in &conns {
        c.flush().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let per_conn = (rss_kib(nats_pid).saturating_sub(before)) as f64 * 1024.0 / connections as f64;
    let publisher = async_nats::connect(url).await.unwrap();
    let mut steps = Vec::new();
    for rate in RATES {
        tally.take();
        let started = Instant::now();
        let cpu = cpu_seconds(nats_pid);
        let total = rate * step.as_secs().max(1);
        for k in 0..total {
            tokio::time::sleep_until(
                (started + Duration::from_secs_f64(k as f64 / rate as f64)).into(),
            )
            .await;
            let body = format!("{{\"text\":\"t={};\"}}", now_us());
            publisher
                .publish(format!("bench.ch{}", k as usize % channels), body.into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cores = (cpu_seconds(nats_pid) - cpu) / started.elapsed().as_secs_f64();
        let seconds = started.elapsed().as_secs_f64() - 2.0;
        let (received, lat) = tally.take();
        steps.push(Step {
            rate,
            cores,
            sent: total,
            received,
            seconds,
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
        });
    }
    for t in tasks {
        t.abort();
    }
    (steps, per_conn)
}

fn main() {
    let step = Duration::from_secs(
        std::env::var("LIVEFLEET_BENCH_STEP_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    let dir = tempfile::tempdir().unwrap();
    let nats_port = free_port();
    let nats = Killed(
        Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &nats_port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH"),
    );
    wait_port(nats_port);
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let bin = env!("CARGO_BIN_EXE_livefleet");
    for c in 0..100 {
        let out = Command::new(bin)
            .args(["channel", "create", &format!("ch{c}"), "--profile"])
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/ladder-profiles/cpu-small.yaml"
            ))
            .args(["--nats-url", &nats_url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = dir.path().join("chat.yaml");
    std::fs::write(
        &config,
        "rate: { messages: 1000000, per_s: 1 }\nqueue_messages: 4096\nmax_subscriptions: 4\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("chat fan-out (2 cores; relay, nats-server and load generator on one machine; {} s per step)", step.as_secs());
    for (channels, per_channel) in [(1usize, 5000usize), (100, 50)] {
        let clients = channels * per_channel;
        let port = free_port();
        let relay = Killed(
            Command::new(bin)
                .args([
                    "chat",
                    "--nats-url",
                    &nats_url,
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                ])
                .arg("--config")
                .arg(&config)
                .arg("--storage")
                .arg(dir.path().join("store"))
                .env("LIVEFLEET_CHAT_SECRET", SECRET)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_port(port);
        let url = format!("ws://127.0.0.1:{port}/connection/websocket");
        println!("\n{channels} channel(s) x {per_channel} clients");
        let (relay_steps, per_idle) =
            rt.block_on(relay_run(&url, channels, clients, relay.0.id(), step));
        let (nats_steps, per_nats_conn) =
            rt.block_on(nats_run(&nats_url, channels, clients, nats.0.id(), step));
        report("relay", &relay_steps, per_channel as u64);
        report("nats", &nats_steps, per_channel as u64);
        for (r, n) in relay_steps.iter().zip(&nats_steps) {
            println!(
                "  ratio  {:>4} msg/s: relay/nats deliveries {:.2}x, p99 {:.1}x",
                r.rate,
                (r.received as f64 / r.seconds) / (n.received as f64 / n.seconds).max(1.0),
                r.p99_ms / n.p99_ms.max(0.001)
            );
        }
        println!("  RSS per idle connection: relay {per_idle:.0} bytes (WebSocket client), nats-server {per_nats_conn:.0} bytes (NATS connection)");
        drop(relay);
    }
}
