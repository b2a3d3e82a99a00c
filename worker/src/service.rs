//! `livefleet worker`: runs live channels from the bus.
//!
//! Without a scheduler (`livefleet dev`, `livefleet worker --all-channels`),
//! one worker runs every channel of the registry: it
//! watches the registry, starts a channel when it appears (its media
//! subscription starts at the latest keyframe, so a worker started mid-stream
//! joins at once) and stops it when it is deleted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use livefleet_base::ChannelName;
use livefleet_bus::{ChannelChange, ChannelRecord, ChannelRegistry};
use livefleet_profile::LadderProfile;
use livefleet_storage::{Storage, StorageMetrics, StorageWriter, WriterOptions};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::mpsc;

use crate::encoder;
use crate::live::{run_channel, LiveChannel, LiveFeed, LiveTiming, WriterSink};
use crate::pipeline::{OutputSink, Progress};

/// Settings of one worker process.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This node's id, in logs, heartbeats and assignments.
    pub id: String,
    pub timing: LiveTiming,
}

/// Worker metrics, registered once per process.
#[derive(Clone)]
pub struct WorkerMetrics {
    pub channels: IntGauge,
    pub sessions: IntCounterVec,
}

impl WorkerMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let channels = IntGauge::new("livefleet_worker_channels", "Channels this worker runs")?;
        let sessions = IntCounterVec::new(
            Opts::new(
                "livefleet_worker_channel_starts_total",
                "Channels started, by outcome",
            ),
            &["result"],
        )?;
        registry.register(Box::new(channels.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        Ok(Self { channels, sessions })
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    forwarder: tokio::task::JoinHandle<()>,
}

/// Runs the worker until `shutdown` resolves; then ends every broadcast cleanly.
pub async fn run(
    js: jetstream::Context,
    config: WorkerConfig,
    storage: Arc<dyn Storage>,
    metrics_registry: Registry,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::PipelineError> {
    ffmpeg_next::init().map_err(|source| crate::PipelineError::Decoder {
        what: "FFmpeg initialisation",
        source,
    })?;
    let span = tracing::info_span!("worker", node = %config.id);
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
        .map_err(|e| crate::PipelineError::Output(format!("storage metrics: {e}")))?;
    let writer = Arc::new(StorageWriter::spawn(
        storage,
        WriterOptions::default(),
        storage_metrics,
    ));
    let registry = loop {
        match ChannelRegistry::open(&js).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, "channel registry not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut running: HashMap<ChannelName, Running> = HashMap::new();
    tokio::pin!(shutdown);
    'watch: loop {
        let mut watch = match registry.watch_with_current().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the channel registry; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = &mut shutdown => break 'watch,
                }
            }
        };
        loop {
            tokio::select! {
                change = watch.next() => match change {
                    Some(Ok(ChannelChange::Put(rec))) => {
                        running.retain(|_, r| !r.thread.is_finished());
                        if !running.contains_key(&rec.name) {
                            match start_channel(&js, &rec, &config, &nvenc, writer.clone()).await {
                                Ok(r) => {
                                    running.insert(rec.name.clone(), r);
                                    if let Some(m) = &metrics { m.sessions.with_label_values(&["started"]).inc(); }
                                }
                                Err(e) => {
                                    tracing::error!(channel = %rec.name, error = %e, "cannot run channel");
                                    if let Some(m) = &metrics { m.sessions.with_label_values(&["refused"]).inc(); }
                                }
                            }
                        }
                    }
                    Some(Ok(ChannelChange::Deleted(name))) => {
                        if let Some(r) = running.remove(&name) {
                            tracing::info!(channel = %name, "channel deleted; stopping it");
                            stop_channel(r).await;
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "registry watch error"),
                    None => {
                        tracing::warn!("registry watch ended; watching again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue 'watch;
                    }
                },
                _ = &mut shutdown => break 'watch,
            }
            if let Some(m) = &metrics {
                m.channels.set(running.len() as i64);
            }
        }
    }
    tracing::info!(
        channels = running.len(),
        "worker stopping; ending broadcasts"
    );
    for (_, r) in running.drain() {
        stop_channel(r).await;
    }
    let _ = writer.flush().await;
    Ok(())
}

async fn stop_channel(r: Running) {
    r.stop.store(true, Ordering::Relaxed);
    r.forwarder.abort();
    let _ = tokio::task::spawn_blocking(move || r.thread.join()).await;
}

async fn start_channel(
    js: &jetstream::Context,
    rec: &ChannelRecord,
    config: &WorkerConfig,
    nvenc: &Result<(), String>,
    writer: Arc<StorageWriter>,
) -> Result<Running, String> {
    let profile = LadderProfile::from_yaml(&format!("channel {}", rec.name), &rec.profile_yaml)
        .map_err(|e| e.to_string())?;
    let selection = encoder::select(&profile, || nvenc.clone()).map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel(1024);
    let forwarder = tokio::spawn(crate::live::forward_media(js.clone(), rec.name.clone(), tx));
    let stop = Arc::new(AtomicBool::new(false));
    let live = LiveChannel {
        channel: rec.name.clone(),
        profile,
        encoder: selection.kind,
        timing: config.timing.clone(),
        progress: Arc::new(Progress::default()),
        generation: None,
        resume: None,
        fleet: false,
        deleted: Arc::new(AtomicBool::new(false)),
    };
    let feed = LiveFeed::new(rx, tokio::runtime::Handle::current());
    let prefix = format!("live/{}/", rec.name);
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("ch-{}", rec.name))
        .spawn(move || {
            let make_sink = || -> Box<dyn OutputSink> {
                Box::new(WriterSink::new(writer.clone(), prefix.clone()))
            };
            if let Err(e) = run_channel(&live, feed, &make_sink, &thread_stop) {
                tracing::error!(channel = %live.channel, error = %e, "channel stopped");
            }
        })
        .map_err(|e| e.to_string())?;
    tracing::info!(channel = %rec.name, encoder = %selection.kind, "channel started");
    Ok(Running {
        stop,
        thread,
        forwarder,
    })
}
