//! What the two node loops share: the standalone worker (`service`, every
//! channel of the registry) and the fleet worker (`fleet`, the channels
//! assigned to it) start a node the same way ([`NodeBase`]) and
//! run each channel the same way ([`ChannelRun`]): a thread of its own for
//! the pipeline, a task forwarding its media from the bus.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_nats::jetstream;
use livefleet_bus::ChannelRecord;
use livefleet_packager::PackagerState;
use livefleet_profile::{LadderProfile, ProfileErrors};
use livefleet_storage::{Storage, StorageMetrics, StorageWriter, WriterOptions};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::mpsc;

use crate::channel::{run_channel, LiveChannel, LiveTiming};
use crate::encoder::{self, EncoderError, EncoderKind};
use crate::feed::LiveFeed;
use crate::progress::Progress;
use crate::sink::OutputSink;
use crate::PipelineError;

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
    /// Channels whose pipeline stopped with an error, by kind.
    pub failures: IntCounterVec,
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
        let failures = IntCounterVec::new(
            Opts::new(
                "livefleet_worker_channel_failures_total",
                "Channels whose pipeline stopped with an error, by kind (panic, fenced, error)",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(channels.clone()))?;
        registry.register(Box::new(sessions.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        Ok(Self {
            channels,
            sessions,
            failures,
        })
    }
}

/// Why a channel could not start on this node.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Profile(#[from] ProfileErrors),
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error("the channel is not in the registry")]
    NotRegistered,
    #[error("bus: {0}")]
    Bus(String),
    #[error("cannot start the channel's thread: {0}")]
    Spawn(std::io::Error),
}

/// FFmpeg, the NVENC probe, the metrics and the storage writer of a node.
pub(crate) struct NodeBase {
    pub nvenc: Result<(), String>,
    pub writer: Arc<StorageWriter>,
    pub metrics: Option<WorkerMetrics>,
}

impl NodeBase {
    pub async fn start(
        storage: Arc<dyn Storage>,
        registry: &Registry,
    ) -> Result<Self, PipelineError> {
        ffmpeg_next::init().map_err(|source| PipelineError::Decoder {
            what: "FFmpeg initialisation",
            source,
        })?;
        crate::ffmpeg_log::route_to_tracing();
        let nvenc = tokio::task::spawn_blocking(encoder::probe_nvenc)
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match &nvenc {
            Ok(()) => tracing::info!("NVENC available"),
            Err(reason) => {
                tracing::info!(%reason, "NVENC not available; CPU encoding (libx264) only")
            }
        }
        let metrics = WorkerMetrics::new(registry).ok();
        let storage_metrics = StorageMetrics::register(registry)
            .or_else(|_| StorageMetrics::unregistered())
            .map_err(|e| PipelineError::Output(format!("storage metrics: {e}")))?;
        let writer = Arc::new(StorageWriter::spawn(
            storage,
            WriterOptions::default(),
            storage_metrics,
        ));
        Ok(Self {
            nvenc,
            writer,
            metrics,
        })
    }

    /// Counts a channel start.
    pub fn started(&self, ok: bool) {
        if let Some(m) = &self.metrics {
            let result = if ok { "started" } else { "refused" };
            m.sessions.with_label_values(&[result]).inc();
        }
    }
}

/// How a node runs one channel.
pub(crate) struct RunSpec {
    pub timing: LiveTiming,
    /// File generation (the fleet assignment epoch); `None` outside a fleet.
    pub generation: Option<u32>,
    /// Where a previous worker left the broadcast: its state and media end (90 kHz).
    pub resume: Option<(PackagerState, i64)>,
    /// Run under a fleet assignment (see `LiveChannel::fleet`).
    pub fleet: bool,
}

/// A channel running on this node.
pub(crate) struct ChannelRun {
    pub profile: LadderProfile,
    pub kind: EncoderKind,
    stop: Arc<AtomicBool>,
    /// Set once the channel is gone from the registry: the broadcast ends now.
    pub deleted: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    forwarder: tokio::task::JoinHandle<()>,
}

impl ChannelRun {
    /// Starts `rec` with the sinks `make_sink` makes (one per broadcast).
    pub fn start(
        base: &NodeBase,
        js: &jetstream::Context,
        rec: &ChannelRecord,
        spec: RunSpec,
        make_sink: Box<dyn Fn() -> Box<dyn OutputSink> + Send>,
    ) -> Result<Self, StartError> {
        let profile =
            LadderProfile::from_yaml(&format!("channel {}", rec.name), &rec.profile_yaml)?;
        let selection = encoder::select(&profile, || base.nvenc.clone())?;
        let (tx, rx) = mpsc::channel(1024);
        let forwarder = tokio::spawn(crate::forward::forward_media(
            js.clone(),
            rec.name.clone(),
            tx,
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let deleted = Arc::new(AtomicBool::new(false));
        let live = LiveChannel {
            channel: rec.name.clone(),
            profile: profile.clone(),
            encoder: selection.kind,
            timing: spec.timing,
            progress: Arc::new(Progress::default()),
            generation: spec.generation,
            resume: spec.resume,
            fleet: spec.fleet,
            deleted: deleted.clone(),
        };
        let feed = LiveFeed::new(rx, tokio::runtime::Handle::current());
        let thread_stop = stop.clone();
        let metrics = base.metrics.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ch-{}", rec.name))
            .spawn(move || {
                if let Err(e) = run_channel(&live, feed, &*make_sink, &thread_stop) {
                    tracing::error!(channel = %live.channel, error = %e, "channel stopped");
                    if let Some(m) = &metrics {
                        let kind = match &e {
                            PipelineError::StagePanicked { .. } => "panic",
                            e if e.is_fenced() => "fenced",
                            _ => "error",
                        };
                        m.failures.with_label_values(&[kind]).inc();
                    }
                }
            })
            .map_err(StartError::Spawn)?;
        tracing::info!(channel = %rec.name, encoder = %selection.kind, "channel started");
        Ok(Self {
            profile,
            kind: selection.kind,
            stop,
            deleted,
            thread,
            forwarder,
        })
    }

    /// Whether the channel's thread has ended (its broadcast is over).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// The broadcast is over: stop forwarding its media.
    pub fn end_forwarding(&self) {
        self.forwarder.abort();
    }

    /// Stops the channel and waits for its thread.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.forwarder.abort();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}
