//! What the two node loops share: the standalone worker (`service`, every
//! channel of the registry) and the fleet worker (`fleet`, the channels
//! assigned to it) start a node the same way ([`NodeBase`]) and
//! run each channel the same way ([`ChannelRun`]): a thread of its own for
//! the pipeline, a task forwarding its media from the bus.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_nats::jetstream;
use livefleet_base::ChannelName;
use livefleet_bus::ChannelRecord;
use livefleet_packager::PackagerState;
use livefleet_profile::{LadderProfile, ProfileErrors};
use livefleet_storage::{Storage, StorageMetrics, StorageWriter, WriterOptions};
use prometheus::Registry;
use tokio::sync::mpsc;

use crate::archive::{ArchiveConfig, ArchiveMetrics, Archiver};
use crate::channel::{run_channel, LiveChannel, LiveTiming};
use crate::encoder::{self, EncoderError, EncoderKind};
use crate::events::ChannelEvents;
use crate::failover_state::BroadcastRecord;
use crate::feed::LiveFeed;
pub use crate::metrics::WorkerMetrics;
use crate::numbering_floor::{self, Numbering};
use crate::progress::Progress;
use crate::sink::OutputSink;
use crate::PipelineError;

/// Settings of one worker process.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This node's id, in logs, heartbeats and assignments.
    pub id: String,
    pub timing: LiveTiming,
    /// Every broadcast kept as VOD.
    pub archive: ArchiveConfig,
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
    Bus(#[from] livefleet_bus::BusError),
    #[error(transparent)]
    State(#[from] crate::failover_state::StateError),
    #[error("cannot start the channel's thread: {0}")]
    Spawn(std::io::Error),
}

/// FFmpeg, the NVENC probe, the metrics and the store of a node.
pub(crate) struct NodeBase {
    pub nvenc: Result<(), crate::hw::GpuError>,
    /// Where every channel writes, each through a writer of its own.
    storage: Arc<dyn Storage>,
    storage_metrics: StorageMetrics,
    /// Makes the VOD copy of each broadcast that ends here.
    pub archiver: Arc<Archiver>,
    pub metrics: Option<WorkerMetrics>,
    /// Reads NVML into the GPU gauges while the node runs.
    gpu_poll: Option<tokio::task::JoinHandle<()>>,
    /// Takes over archives that stopped nodes left unfinished.
    archive_recovery: Option<tokio::task::JoinHandle<()>>,
    /// NVML's last sample of the GPU (every process on it), for the heartbeats.
    pub gpu: Arc<std::sync::Mutex<Option<crate::nvml::GpuInfo>>>,
}

impl Drop for NodeBase {
    fn drop(&mut self) {
        for task in [&self.gpu_poll, &self.archive_recovery]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// How often the GPU gauges are read from NVML.
const GPU_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the GPU gauges and `last` current; without a driver it says so once and stops.
async fn poll_gpu(
    metrics: WorkerMetrics,
    registry: Registry,
    last: Arc<std::sync::Mutex<Option<crate::nvml::GpuInfo>>>,
) {
    loop {
        match tokio::task::spawn_blocking(crate::nvml::probe).await {
            Ok(Ok(gpu)) => {
                metrics.set_gpu(&registry, Some(&gpu), gpu.session_limit);
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(gpu);
            }
            Ok(Err(reason)) => {
                tracing::debug!(%reason, "no GPU gauges");
                metrics.set_gpu(&registry, None, None);
                return;
            }
            Err(_) => return,
        }
        tokio::time::sleep(GPU_POLL).await;
    }
}

impl NodeBase {
    pub async fn start(
        node: &str,
        storage: Arc<dyn Storage>,
        archive: ArchiveConfig,
        js: &jetstream::Context,
        registry: &Registry,
    ) -> Result<Self, PipelineError> {
        ffmpeg_next::init().map_err(|source| PipelineError::Decoder {
            what: "FFmpeg initialisation",
            source,
        })?;
        crate::ffmpeg_log::route_to_tracing();
        let nvenc = tokio::task::spawn_blocking(encoder::probe_nvenc)
            .await
            .unwrap_or_else(|e| Err(crate::hw::GpuError::ProbeLost(e.to_string())));
        match &nvenc {
            Ok(()) => tracing::info!("NVENC available"),
            Err(reason) => {
                tracing::info!(%reason, "NVENC not available; CPU encoding (libx264) only")
            }
        }
        let metrics = WorkerMetrics::new(registry).ok();
        let gpu = Arc::new(std::sync::Mutex::new(None));
        let gpu_poll = metrics
            .clone()
            .map(|m| tokio::spawn(poll_gpu(m, registry.clone(), gpu.clone())));
        let storage_metrics = StorageMetrics::register(registry)
            .or_else(|_| StorageMetrics::unregistered())
            .map_err(crate::error::OutputError::Metrics)?;
        let index = if archive.enabled {
            match livefleet_bus::BroadcastIndex::open(js).await {
                Ok(i) => Some(i),
                Err(e) => {
                    tracing::warn!(error = %e, "no archive index on the bus; broadcasts are archived but not listed");
                    None
                }
            }
        } else {
            None
        };
        let archiver = Arc::new(Archiver::new(
            archive,
            node,
            storage.clone(),
            storage_metrics.clone(),
            index,
            ArchiveMetrics::register(registry).ok(),
        ));
        let archive_recovery = archiver.spawn_recovery();
        Ok(Self {
            archive_recovery,
            nvenc,
            storage,
            storage_metrics,
            archiver,
            metrics,
            gpu_poll,
            gpu,
        })
    }

    /// A channel's own upload queue: a slow channel, or one whose objects
    /// the store refuses, holds up no other channel.
    fn channel_writer(&self) -> Arc<StorageWriter> {
        Arc::new(StorageWriter::spawn(
            self.storage.clone(),
            WriterOptions::default(),
            self.storage_metrics.clone(),
        ))
    }

    /// Where `channel`'s broadcast starts: from its broadcast record if
    /// there is one, else above what the store holds of it
    /// (`numbering_floor.rs`), else afresh.
    pub async fn continuation(
        &self,
        channel: &ChannelName,
        record: Option<BroadcastRecord>,
    ) -> Option<(PackagerState, i64)> {
        let archived = self.archiver.enabled();
        let (resume, from) = match record {
            Some(r) => (
                Some(crate::channel::after_end(
                    r.state,
                    r.timeline_end_90k,
                    archived,
                )),
                Numbering::Record,
            ),
            None => {
                let (state, from) =
                    numbering_floor::start_above_stored(self.storage.as_ref(), channel).await;
                (state.map(|s| (s, 0)), from)
            }
        };
        if let Some(m) = &self.metrics {
            m.numbering.with_label_values(&[from.label()]).inc();
        }
        resume
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
    /// The channel's upload queue, shared by its broadcasts.
    writer: Arc<StorageWriter>,
}

/// Makes the sink of each broadcast of a channel, around the channel's writer.
pub(crate) type MakeSink = Box<dyn Fn(&Arc<StorageWriter>) -> Box<dyn OutputSink> + Send>;

impl ChannelRun {
    /// Starts `rec` with the sinks `make_sink` makes (one per broadcast).
    pub fn start(
        base: &NodeBase,
        js: &jetstream::Context,
        rec: &ChannelRecord,
        spec: RunSpec,
        make_sink: MakeSink,
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
            encoder: selection.clone(),
            timing: spec.timing,
            progress: Arc::new(Progress {
                meter: base.metrics.as_ref().map(|m| m.channel(rec.name.as_str())),
                events: Some(ChannelEvents::new(
                    js.clone(),
                    rec.name.clone(),
                    tokio::runtime::Handle::current(),
                )),
                ..Progress::default()
            }),
            generation: spec.generation,
            resume: spec.resume,
            fleet: spec.fleet,
            deleted: deleted.clone(),
            expire_segments: !base.archiver.enabled(),
        };
        let feed = LiveFeed::new(rx, tokio::runtime::Handle::current());
        let thread_stop = stop.clone();
        let metrics = base.metrics.clone();
        let writer = base.channel_writer();
        let sink_writer = writer.clone();
        let make_sink = move || make_sink(&sink_writer);
        let thread = std::thread::Builder::new()
            .name(format!("ch-{}", rec.name))
            .spawn(move || {
                let result = run_channel(&live, feed, &make_sink, &thread_stop);
                if let Some(m) = &live.progress.meter {
                    m.retire();
                }
                if let Err(e) = result {
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
            writer,
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

    /// Stops the channel, waits for its thread, then for its queued uploads.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.forwarder.abort();
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        let _ = self.writer.flush().await;
    }
}
