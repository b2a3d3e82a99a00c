//! A worker in a fleet: it heartbeats, runs only the channels the scheduler
//! assigns to it, and writes their output under its assignment's epoch.
//!
//! ```text
//! worker --heartbeat every 1 s--> livefleet.fleet.heartbeat.<id> --> scheduler
//! scheduler --CAS--> KV livefleet_assignments --watch--> worker: start / stop channels
//! worker --fenced save per published segment--> KV livefleet_broadcasts --> next worker (failover)
//! ```
//!
//! Fencing: a channel runs under `(worker, epoch)`. Its segment and init
//! file names carry the epoch, so a stale worker can never overwrite a file
//! the new one wrote; before each manifest update the worker waits for the
//! segments to be stored, checks that it still holds the assignment, and
//! saves the packager state; if it does not hold it any more it stops
//! without touching the manifests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use livefleet_base::ChannelName;
use livefleet_bus::ChannelRegistry;
use livefleet_fleet::{
    heartbeat_subject, Assignment, Assignments, ChannelCost, EncoderKind as FleetEncoder, Epoch,
    Heartbeat, NodeState, RunningChannel, WorkerId,
};
use livefleet_packager::{Output, PackagerState};
use livefleet_profile::LadderProfile;
use livefleet_storage::{Storage, StorageMetrics, StorageWriter, WriterOptions};
use prometheus::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::encoder::{self, EncoderKind};
use crate::live::{run_channel, LiveChannel, LiveFeed, WriterSink};
use crate::pipeline::{OutputSink, Progress};
use crate::service::{WorkerConfig, WorkerMetrics};

/// KV bucket of per-channel broadcast state (packager state for failover).
pub const BROADCASTS_BUCKET: &str = "livefleet_broadcasts";
/// Largest broadcast record read back.
const MAX_RECORD_BYTES: usize = 8 << 20;

/// What the fleet knows about this node, for its heartbeats.
#[derive(Debug, Clone)]
pub struct NodeCapacity {
    /// Pixels per second libx264 encodes in real time here (`livefleet worker calibrate`).
    pub cpu_pps: u64,
    /// Pixels per second NVENC encodes in real time here (0 without a GPU).
    pub nvenc_pps: u64,
    /// The GPU's concurrent NVENC session cap, when it has one.
    pub nvenc_session_limit: Option<u32>,
    pub gpu_model: Option<String>,
}

impl NodeCapacity {
    /// A conservative default for a CPU-only node: about 60% of the measured
    /// libx264 veryfast throughput of one core per core (see docs/operations.md).
    pub fn cpu_default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        Self {
            cpu_pps: cores * 12_000_000,
            nvenc_pps: 0,
            nvenc_session_limit: None,
            gpu_model: None,
        }
    }
}

/// A channel's broadcast as the last worker to run it left it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastRecord {
    pub channel: ChannelName,
    pub worker: String,
    pub epoch: Epoch,
    pub state: PackagerState,
    /// Media end of the last listed segment (90 kHz): where the next worker's timeline continues.
    pub timeline_end_90k: i64,
    pub updated_unix_ms: i64,
}

/// The broadcast records in JetStream KV.
#[derive(Clone)]
pub struct BroadcastStore {
    kv: kv::Store,
}

impl BroadcastStore {
    pub async fn open(js: &jetstream::Context) -> Result<Self, String> {
        let kv = livefleet_fleet::open_bucket(
            js,
            BROADCASTS_BUCKET,
            "livefleet broadcast state for failover",
            1,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(Self { kv })
    }

    /// The record of `channel`, if any (an unreadable one is logged and ignored).
    pub async fn load(&self, channel: &ChannelName) -> Result<Option<BroadcastRecord>, String> {
        let value = self
            .kv
            .get(channel.as_str())
            .await
            .map_err(|e| format!("reading the broadcast state of {channel}: {e}"))?;
        let Some(bytes) = value else { return Ok(None) };
        if bytes.len() > MAX_RECORD_BYTES {
            tracing::warn!(%channel, bytes = bytes.len(), "broadcast state too large; starting the channel afresh");
            return Ok(None);
        }
        match serde_json::from_slice::<BroadcastRecord>(&bytes) {
            Ok(r) if r.channel == *channel => Ok(Some(r)),
            Ok(r) => {
                tracing::warn!(%channel, stored = %r.channel, "broadcast state names another channel; ignored");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, "unreadable broadcast state; starting the channel afresh");
                Ok(None)
            }
        }
    }

    /// Saves `record` unless a newer epoch already wrote one (then `Err(Fenced)`).
    async fn save(&self, record: &BroadcastRecord) -> Result<(), SaveError> {
        for _ in 0..5 {
            let entry = self
                .kv
                .entry(record.channel.as_str())
                .await
                .map_err(|e| SaveError::Bus(e.to_string()))?;
            let revision = match &entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    if let Ok(stored) = serde_json::from_slice::<BroadcastRecord>(&e.value) {
                        if stored.epoch > record.epoch {
                            return Err(SaveError::Fenced(format!(
                                "epoch {} wrote the broadcast state",
                                stored.epoch
                            )));
                        }
                    }
                    e.revision
                }
                Some(e) => e.revision,
                None => 0,
            };
            let bytes = serde_json::to_vec(record).map_err(|e| SaveError::Bus(e.to_string()))?;
            let result = if revision == 0 {
                self.kv
                    .create(record.channel.as_str(), bytes.into())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                self.kv
                    .update(record.channel.as_str(), bytes.into(), revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(channel = %record.channel, error = %e, "broadcast state write raced; retrying")
                }
            }
        }
        Err(SaveError::Bus(
            "broadcast state kept changing under us".into(),
        ))
    }
}

enum SaveError {
    Fenced(String),
    Bus(String),
}

/// Writes a fleet channel's output: segments first, then (if this worker
/// still holds the channel) the packager state, then the manifests.
struct FencedSink {
    inner: WriterSink,
    runtime: tokio::runtime::Handle,
    store: BroadcastStore,
    assignments: Assignments,
    worker: WorkerId,
    channel: ChannelName,
    epoch: Epoch,
    fenced: Arc<AtomicBool>,
}

impl FencedSink {
    fn check(&self) -> Result<(), String> {
        if self.fenced.load(Ordering::Relaxed) {
            return Err(format!(
                "channel {} is fenced: epoch {} is no longer ours",
                self.channel, self.epoch
            ));
        }
        Ok(())
    }
}

impl OutputSink for FencedSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), String> {
        self.check()?;
        self.inner.write(outputs)
    }

    fn missing_changed(&mut self) -> Option<Vec<String>> {
        self.inner.missing_changed()
    }

    fn settle(&mut self) {
        self.inner.settle();
    }

    fn write_published(
        &mut self,
        outputs: Vec<Output>,
        state: &PackagerState,
    ) -> Result<(), String> {
        self.check()?;
        let (manifests, media): (Vec<Output>, Vec<Output>) = outputs.into_iter().partition(|o| {
            let p = o.path();
            p.ends_with(".m3u8") || p.ends_with(".mpd")
        });
        self.inner.write(media)?;
        let writer = self.inner.writer.clone();
        let record = BroadcastRecord {
            channel: self.channel.clone(),
            worker: self.worker.to_string(),
            epoch: self.epoch,
            state: state.clone(),
            timeline_end_90k: state.end_time(90_000).unwrap_or(0),
            updated_unix_ms: crate::pipeline::now_unix_ms(),
        };
        let (store, assignments, worker, channel, epoch) = (
            self.store.clone(),
            self.assignments.clone(),
            self.worker.clone(),
            self.channel.clone(),
            self.epoch,
        );
        let verdict = self.runtime.block_on(async move {
            // The segments must be stored before the state says they are listed.
            writer
                .flush()
                .await
                .map_err(|e| SaveError::Bus(e.to_string()))?;
            match assignments.holds(&channel, &worker, epoch).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(SaveError::Fenced(
                        "the assignment moved to another epoch".into(),
                    ))
                }
                Err(e) => return Err(SaveError::Bus(e.to_string())),
            }
            store.save(&record).await
        });
        match verdict {
            Ok(()) => {}
            Err(SaveError::Fenced(why)) => {
                self.fenced.store(true, Ordering::Relaxed);
                tracing::warn!(channel = %self.channel, epoch = self.epoch, %why, "fenced: leaving the manifests to the new owner");
                return Err(format!("fenced: {why}"));
            }
            Err(SaveError::Bus(e)) => {
                // The bus is down: keep serving viewers; failover state is a little behind.
                tracing::warn!(channel = %self.channel, error = %e, "could not save the broadcast state");
            }
        }
        self.inner.write(manifests)
    }
}

struct Running {
    epoch: Epoch,
    cost: ChannelCost,
    kind: EncoderKind,
    stop: Arc<AtomicBool>,
    /// Set once the channel is gone from the registry: the broadcast ends now.
    deleted: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    forwarder: tokio::task::JoinHandle<()>,
}

/// Everything a fleet worker shares between its tasks.
struct Node {
    js: jetstream::Context,
    client: async_nats::Client,
    id: WorkerId,
    config: WorkerConfig,
    capacity: NodeCapacity,
    nvenc: Result<(), String>,
    writer: Arc<StorageWriter>,
    registry: ChannelRegistry,
    assignments: Assignments,
    store: BroadcastStore,
    draining: AtomicBool,
    sequence: AtomicU64,
}

/// Runs a fleet worker until `shutdown` resolves. On shutdown its channels
/// stop without an ending; the scheduler moves them once heartbeats stop.
pub async fn run(
    client: async_nats::Client,
    js: jetstream::Context,
    config: WorkerConfig,
    capacity: NodeCapacity,
    storage: Arc<dyn Storage>,
    metrics_registry: Registry,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::PipelineError> {
    let bad = |m: String| crate::PipelineError::Output(m);
    ffmpeg_next::init().map_err(|source| crate::PipelineError::Decoder {
        what: "FFmpeg initialisation",
        source,
    })?;
    let id = WorkerId::new(config.id.clone()).map_err(|e| bad(format!("worker id: {e}")))?;
    let span = tracing::info_span!("worker", node = %id);
    let _e = span.enter();
    let nvenc = tokio::task::spawn_blocking(encoder::probe_nvenc)
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match &nvenc {
        Ok(()) => tracing::info!("NVENC available"),
        Err(reason) => tracing::info!(%reason, "NVENC not available; CPU encoding (libx264) only"),
    }
    let metrics = WorkerMetrics::new(&metrics_registry).ok();
    let storage_metrics = StorageMetrics::register(&metrics_registry)
        .or_else(|_| StorageMetrics::unregistered())
        .map_err(|e| bad(format!("storage metrics: {e}")))?;
    let writer = Arc::new(StorageWriter::spawn(
        storage,
        WriterOptions::default(),
        storage_metrics,
    ));
    let (registry, assignments, store) = loop {
        let opened = async {
            Ok::<_, String>((
                ChannelRegistry::open(&js)
                    .await
                    .map_err(|e| e.to_string())?,
                Assignments::open(&js).await.map_err(|e| e.to_string())?,
                BroadcastStore::open(&js).await?,
            ))
        };
        match opened.await {
            Ok(v) => break v,
            Err(e) => {
                tracing::warn!(error = %e, "fleet buckets not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let node = Arc::new(Node {
        js,
        client,
        id,
        config,
        capacity,
        nvenc,
        writer,
        registry,
        assignments,
        store,
        draining: AtomicBool::new(false),
        sequence: AtomicU64::new(0),
    });
    let mut running: HashMap<ChannelName, Running> = HashMap::new();
    let checking = Arc::new(AtomicBool::new(false));
    let channels = Arc::new(std::sync::Mutex::new(Vec::new()));
    let beats = spawn_heartbeats(node.clone(), channels.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    tracing::info!("fleet worker ready");
    'watch: loop {
        let mut watch = match node.assignments.watch_with_current().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch assignments; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = &mut shutdown => break 'watch,
                }
            }
        };
        loop {
            tokio::select! {
                change = watch.next() => match change {
                    Some(Ok(a)) => {
                        apply(&node, &mut running, a, metrics.as_ref()).await;
                        *channels.lock().unwrap_or_else(|e| e.into_inner()) = advertised(&running);
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "assignment watch error"),
                    None => {
                        tracing::warn!("assignment watch ended; watching again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue 'watch;
                    }
                },
                _ = tick.tick() => {
                    notice_deleted(&node, &running, &checking);
                    reap(&node, &mut running).await;
                    *channels.lock().unwrap_or_else(|e| e.into_inner()) = advertised(&running);
                    if let Some(m) = &metrics { m.channels.set(running.len() as i64); }
                }
                _ = &mut shutdown => break 'watch,
            }
        }
    }
    tracing::info!(channels = running.len(), "fleet worker stopping");
    // Tell the scheduler at once, so it moves the channels without waiting for the heartbeat timeout.
    node.draining.store(true, Ordering::Relaxed);
    beats.abort();
    heartbeat(&node, advertised(&running)).await;
    let _ = node.client.flush().await;
    for (_, r) in running.drain() {
        stop(r).await;
    }
    let _ = node.writer.flush().await;
    Ok(())
}

/// Starts or stops a channel after an assignment change.
async fn apply(
    node: &Arc<Node>,
    running: &mut HashMap<ChannelName, Running>,
    a: Assignment,
    metrics: Option<&WorkerMetrics>,
) {
    let mine = a.worker.as_ref() == Some(&node.id);
    if let Some(r) = running.get(&a.channel) {
        if mine && r.epoch == a.epoch {
            return;
        }
        tracing::info!(channel = %a.channel, epoch = a.epoch, owner = ?a.worker.as_ref().map(|w| w.to_string()), "assignment changed; stopping the channel here");
        if let Some(r) = running.remove(&a.channel) {
            stop(r).await;
        }
    }
    if !mine {
        return;
    }
    match start(node, &a).await {
        Ok(r) => {
            running.insert(a.channel.clone(), r);
            if let Some(m) = metrics {
                m.sessions.with_label_values(&["started"]).inc();
            }
        }
        Err(e) => {
            tracing::error!(channel = %a.channel, epoch = a.epoch, error = %e, "cannot run the assigned channel; releasing it");
            if let Some(m) = metrics {
                m.sessions.with_label_values(&["refused"]).inc();
            }
            let _ = node
                .assignments
                .release(
                    &a.channel,
                    a.epoch,
                    &format!("released by {}: {e}", node.id),
                )
                .await;
        }
    }
}

async fn start(node: &Arc<Node>, a: &Assignment) -> Result<Running, String> {
    let rec = node
        .registry
        .get(&a.channel)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the channel is not in the registry")?;
    let profile = LadderProfile::from_yaml(&format!("channel {}", rec.name), &rec.profile_yaml)
        .map_err(|e| e.to_string())?;
    let selection = encoder::select(&profile, || node.nvenc.clone()).map_err(|e| e.to_string())?;
    let resume = node.store.load(&a.channel).await?.map(|r| {
        tracing::info!(channel = %a.channel, from = %r.worker, from_epoch = r.epoch, next_segment = r.state.next_number, "continuing the broadcast");
        (r.state, r.timeline_end_90k)
    });
    let (tx, rx) = mpsc::channel(1024);
    let forwarder = tokio::spawn(crate::live::forward_media(
        node.js.clone(),
        a.channel.clone(),
        tx,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicBool::new(false));
    let live = LiveChannel {
        channel: a.channel.clone(),
        profile: profile.clone(),
        encoder: selection.kind,
        timing: node.config.timing.clone(),
        progress: Arc::new(Progress::default()),
        generation: Some(a.epoch.min(u64::from(u32::MAX)) as u32),
        resume,
        fleet: true,
        deleted: deleted.clone(),
    };
    let feed = LiveFeed::new(rx, tokio::runtime::Handle::current());
    let fenced = Arc::new(AtomicBool::new(false));
    let sink_parts = (node.clone(), a.channel.clone(), a.epoch, fenced);
    let thread_stop = stop.clone();
    let runtime = tokio::runtime::Handle::current();
    let thread = std::thread::Builder::new()
        .name(format!("ch-{}", a.channel))
        .spawn(move || {
            let (node, channel, epoch, fenced) = sink_parts;
            let make_sink = || -> Box<dyn OutputSink> {
                Box::new(FencedSink {
                    inner: WriterSink::new(node.writer.clone(), format!("live/{channel}/")),
                    runtime: runtime.clone(),
                    store: node.store.clone(),
                    assignments: node.assignments.clone(),
                    worker: node.id.clone(),
                    channel: channel.clone(),
                    epoch,
                    fenced: fenced.clone(),
                })
            };
            if let Err(e) = run_channel(&live, feed, &make_sink, &thread_stop) {
                tracing::error!(channel = %live.channel, error = %e, "channel stopped");
            }
        })
        .map_err(|e| e.to_string())?;
    let cost = ChannelCost::of(&profile, None);
    tracing::info!(channel = %a.channel, epoch = a.epoch, encoder = %selection.kind, "channel started");
    Ok(Running {
        epoch: a.epoch,
        cost,
        kind: selection.kind,
        stop,
        deleted,
        thread,
        forwarder,
    })
}

async fn stop(r: Running) {
    r.stop.store(true, Ordering::Relaxed);
    r.forwarder.abort();
    let _ = tokio::task::spawn_blocking(move || r.thread.join()).await;
}

/// Channels deleted from the registry end their broadcast at once (ENDLIST);
/// `reap` then releases their assignments. The ingest ends their publish.
///
/// The registry is read on a task of its own, one check at a time: a bus
/// that is slow to answer (a cluster electing new leaders) must never hold
/// the loop that sends the heartbeats.
fn notice_deleted(
    node: &Arc<Node>,
    running: &HashMap<ChannelName, Running>,
    checking: &Arc<AtomicBool>,
) {
    let watched: Vec<(ChannelName, Epoch, Arc<AtomicBool>)> = running
        .iter()
        .filter(|(_, r)| !r.deleted.load(Ordering::Relaxed))
        .map(|(c, r)| (c.clone(), r.epoch, r.deleted.clone()))
        .collect();
    if watched.is_empty() || checking.swap(true, Ordering::AcqRel) {
        return;
    }
    let (node, checking) = (node.clone(), checking.clone());
    tokio::spawn(async move {
        for (channel, epoch, deleted) in watched {
            if let Ok(None) = node.registry.get(&channel).await {
                tracing::info!(%channel, epoch, "channel deleted from the registry; ending its broadcast");
                deleted.store(true, Ordering::Relaxed);
            }
        }
        checking.store(false, Ordering::Release);
    });
}

/// Channels whose broadcast ended: release their assignments.
async fn reap(node: &Arc<Node>, running: &mut HashMap<ChannelName, Running>) {
    let ended: Vec<ChannelName> = running
        .iter()
        .filter(|(_, r)| r.thread.is_finished())
        .map(|(c, _)| c.clone())
        .collect();
    for channel in ended {
        let Some(r) = running.remove(&channel) else {
            continue;
        };
        r.forwarder.abort();
        match node
            .assignments
            .release(
                &channel,
                r.epoch,
                &format!("broadcast ended on {}", node.id),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(%channel, epoch = r.epoch, "broadcast ended; assignment released")
            }
            Err(e) => {
                tracing::info!(%channel, epoch = r.epoch, error = %e, "broadcast ended; assignment already moved")
            }
        }
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// What the heartbeats say this worker runs.
fn advertised(running: &HashMap<ChannelName, Running>) -> Vec<RunningChannel> {
    running
        .iter()
        .map(|(name, r)| {
            let nvenc = r.kind == EncoderKind::Nvenc;
            RunningChannel {
                name: name.clone(),
                epoch: r.epoch,
                kind: if nvenc {
                    FleetEncoder::Nvenc
                } else {
                    FleetEncoder::X264
                },
                sessions: if nvenc { r.cost.nvenc_sessions } else { 0 },
                pixel_rate: r.cost.pixel_rate,
            }
        })
        .collect()
}

/// Sends heartbeats every second from what `channels` holds, on a task of
/// its own: starting a channel (KV reads) or a slow bus never delays them,
/// or the scheduler would think this worker dead and move its channels.
fn spawn_heartbeats(
    node: Arc<Node>,
    channels: Arc<std::sync::Mutex<Vec<RunningChannel>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = channels.lock().unwrap_or_else(|e| e.into_inner()).clone();
            heartbeat(&node, now).await;
        }
    })
}

async fn heartbeat(node: &Arc<Node>, channels: Vec<RunningChannel>) {
    let mut encoders = vec![FleetEncoder::X264];
    if node.nvenc.is_ok() {
        encoders.insert(0, FleetEncoder::Nvenc);
    }
    let sessions: u32 = channels.iter().map(|c| c.sessions).sum();
    let hb = Heartbeat {
        worker: node.id.clone(),
        encoders,
        gpu_model: node.capacity.gpu_model.clone(),
        nvenc_session_limit: node.capacity.nvenc_session_limit,
        nvenc_sessions_in_use: sessions,
        capacity_nvenc_pps: if node.nvenc.is_ok() {
            node.capacity.nvenc_pps
        } else {
            0
        },
        capacity_cpu_pps: node.capacity.cpu_pps,
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
        load_average: load_average(),
        channels,
        state: if node.draining.load(Ordering::Relaxed) {
            NodeState::Draining
        } else {
            NodeState::Ready
        },
        sent_unix_ms: crate::pipeline::now_unix_ms(),
        sequence: node.sequence.fetch_add(1, Ordering::Relaxed),
    };
    if let Err(e) = node
        .client
        .publish(heartbeat_subject(&node.id), hb.encode().into())
        .await
    {
        tracing::warn!(error = %e, "heartbeat not sent");
    }
}
