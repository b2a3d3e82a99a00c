//! Every broadcast kept as VOD: when a broadcast ends, its segments are
//! copied inside the store from `live/<channel>/` to
//! `vod/<channel>/<broadcast>/` (S3 `CopyObject`, a hard link on a local
//! directory), then its chat replay files, then the VOD manifests (media
//! playlists with ENDLIST, the static MPD, and the master last, so a VOD
//! with a master is complete). The live copies are deleted after a grace
//! period when configured ([`retention`]).
//!
//! ```text
//! packager finish --final manifests--> Archiver::submit --task--> copy segments, chat files
//!                                                            --> put playlists, MPD, master
//!                                                            --> BroadcastIndex record (admin API)
//!                                                            --> (after delete_live_after) delete live/
//! recovery sweep (every node) --orphaned record--> the copy again from the stored live manifests,
//!                                                  or the deletion a stopped node was holding
//!                              --VOD without record--> its record rebuilt from its manifests
//!                                                     (at start, and after the bus lost its storage)
//! ```
//!
//! The record is the archive's lease ([`lease`]): its owner rewrites it
//! every [`HEARTBEAT`] while copying, and a node on the same store takes an
//! archive over once the record has been silent for [`recovery`]'s
//! `ORPHANED_MS`, or at once when the record names this node and the node
//! has just started.
//!
//! See `docs/design/archive.md` for the choices and their limits.

mod config;
mod copy;
mod error;
mod lease;
mod listing;
mod metrics;
mod objects;
mod rebuild;
mod recovery;
mod retention;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use livefleet_base::{now_unix_ms, ChannelName};
use livefleet_bus::{ArchiveState, ArchivedBroadcast, BroadcastIndex};
use livefleet_packager::{Output, PackagerState};
use livefleet_storage::{RetryPolicy, RetryingStorage, Storage, StorageMetrics};

pub use config::{ArchiveConfig, ArchiveConfigError};
use error::ArchiveError;
use lease::{Hold, Lease};
pub use metrics::ArchiveMetrics;
use objects::Named;

/// How often the node copying a broadcast rewrites its record.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// A broadcast that ended: what its archive is made from.
pub(crate) struct Ended {
    pub channel: ChannelName,
    /// `live/<channel>/`.
    pub live_prefix: String,
    /// The final manifests, by packager path (`master.m3u8`, `360p/index.m3u8`, ...).
    pub manifests: Vec<(String, Bytes)>,
    pub state: PackagerState,
    pub ended_ms: i64,
}

/// A finished presentation under the live prefix: what a VOD is copied
/// from, and what the deletion of the live copy goes by.
pub(crate) struct Finished {
    /// `live/<channel>/`.
    pub live_prefix: String,
    /// The final manifests, by presentation path.
    pub manifests: Vec<(String, Bytes)>,
    pub ended_ms: i64,
}

impl Finished {
    /// A final manifest's text.
    fn manifest(&self, path: &str) -> Option<String> {
        manifest_text(&self.manifests, path)
    }
}

/// The text of the manifest at `path` among `manifests`.
pub(crate) fn manifest_text(manifests: &[(String, Bytes)], path: &str) -> Option<String> {
    manifests
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
}

/// Makes the VOD copies of the node's broadcasts, on tasks of their own.
pub struct Archiver {
    config: ArchiveConfig,
    storage: RetryingStorage<Arc<dyn Storage>>,
    index: Option<BroadcastIndex>,
    metrics: Option<ArchiveMetrics>,
    running: AtomicUsize,
    /// This node's id: the owner written in the records it holds.
    node: String,
    /// The store's identity, written in the records (see `Storage::identity`).
    store: Option<String>,
}

impl std::fmt::Debug for Archiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("config", &self.config)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Archiver {
    pub fn new(
        config: ArchiveConfig,
        node: &str,
        storage: Arc<dyn Storage>,
        storage_metrics: StorageMetrics,
        index: Option<BroadcastIndex>,
        metrics: Option<ArchiveMetrics>,
    ) -> Self {
        let policy = RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        };
        Archiver {
            config,
            store: storage.identity(),
            storage: RetryingStorage::new(storage, policy, storage_metrics),
            index,
            metrics,
            running: AtomicUsize::new(0),
            node: node.to_owned(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Archives `ended` on a task of the runtime `runtime`; never blocks.
    pub(crate) fn submit(self: &Arc<Self>, runtime: &tokio::runtime::Handle, ended: Ended) {
        if !self.config.enabled {
            return;
        }
        let span = tracing::info_span!("archive", channel = %ended.channel);
        self.spawn_counted(runtime, span, |this| this.archive(ended));
    }

    /// Runs an archive on `runtime`, counted in [`Archiver::in_progress`].
    fn spawn_counted<F, Fut>(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        span: tracing::Span,
        work: F,
    ) where
        F: FnOnce(Arc<Self>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let this = self.clone();
        this.running.fetch_add(1, Ordering::Relaxed);
        let task = work(this.clone());
        runtime.spawn(async move {
            tracing::Instrument::instrument(task, span).await;
            this.running.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Starts the sweep that takes over archives and deletions left by
    /// stopped nodes on this store (every node runs one; see [`recovery`]).
    /// `None` without an index on the bus or with archiving off.
    pub(crate) fn spawn_recovery(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        (self.config.enabled && self.index.is_some())
            .then(|| tokio::spawn(recovery::run(self.clone())))
    }

    /// Archives still being made (pending deletions of live copies not counted).
    pub fn in_progress(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Waits up to `bound` for the archives in progress (a node stopping).
    pub async fn drain(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        while self.in_progress() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.in_progress() > 0 {
            tracing::warn!(
                archives = self.in_progress(),
                "stopping with archives unfinished; their VOD has no master playlist until a node takes them over"
            );
        }
    }

    async fn archive(self: Arc<Self>, ended: Ended) {
        let Some(first) = ended.state.periods.first() else {
            tracing::debug!("nothing was published; no archive");
            return;
        };
        let id = ArchivedBroadcast::make_id(first.wallclock_ms, first.first_number);
        let prefix = format!("vod/{}/{id}/", ended.channel);
        let record = ArchivedBroadcast {
            channel: ended.channel.clone(),
            id: id.clone(),
            started_ms: first.wallclock_ms,
            ended_ms: ended.ended_ms,
            duration_seconds: duration_seconds(&ended.state),
            segments: segment_count(&ended.state),
            gaps: 0,
            prefix: prefix.clone(),
            state: ArchiveState::Archiving,
            error: None,
            updated_ms: now_unix_ms(),
            owner: Some(self.node.clone()),
            store: self.store.clone(),
            delete_live_at_ms: None,
            live_deleted_ms: None,
            rebuilt_ms: None,
            storyboard: false,
        };
        let lease = Lease::create(self.index.clone(), record).await;
        tracing::info!(broadcast = %id, %prefix, "archiving the broadcast");
        let finished = Finished {
            live_prefix: ended.live_prefix,
            manifests: ended.manifests,
            ended_ms: ended.ended_ms,
        };
        self.make(lease, finished).await;
    }

    /// Copies `finished` to the record's prefix, holding the lease (a
    /// heartbeat every [`HEARTBEAT`]); records the result, and schedules the
    /// deletion of the live copy when configured.
    async fn make(self: &Arc<Self>, mut lease: Lease, finished: Finished) {
        let started = Instant::now();
        let id = lease.record.id.clone();
        let prefix = lease.record.prefix.clone();
        let result = {
            let copy = async {
                let named = copy::all(self, &finished, &prefix).await?;
                let storyboard = self.storyboard(&finished, &prefix).await;
                Ok::<_, ArchiveError>((named, storyboard))
            };
            tokio::pin!(copy);
            let mut beat =
                tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
            loop {
                tokio::select! {
                    result = &mut copy => break result,
                    _ = beat.tick() => if lease.write().await == Hold::Lost {
                        tracing::warn!(broadcast = %id, "another node took the archive over; this node stops copying");
                        return;
                    },
                }
            }
        };
        match result {
            Ok((named, storyboard)) => {
                let now = now_unix_ms();
                lease.record.state = ArchiveState::Complete;
                lease.record.storyboard = storyboard;
                lease.record.gaps = named.gaps.len() as u64;
                lease.record.delete_live_at_ms = self
                    .config
                    .delete_live_after()
                    .map(|after| now + after.as_millis() as i64);
                let hold = lease.write().await;
                let seconds = started.elapsed().as_secs_f64();
                if let Some(m) = &self.metrics {
                    m.finished(true, seconds);
                }
                tracing::info!(broadcast = %id, %prefix, seconds, gaps = lease.record.gaps, "broadcast archived");
                if let Some(index) = &self.index {
                    listing::write(&self.storage, index, &lease.record.channel).await;
                }
                if hold == Hold::Held && lease.record.delete_live_at_ms.is_some() {
                    let span = tracing::Span::current();
                    tokio::spawn(tracing::Instrument::instrument(
                        self.clone().delete_live_later(lease, finished, named),
                        span,
                    ));
                }
            }
            Err(error) => {
                if let Some(m) = &self.metrics {
                    m.finished(false, started.elapsed().as_secs_f64());
                }
                tracing::error!(broadcast = %id, %prefix, %error, "the broadcast could not be archived; its live copy is kept");
                lease.record.state = ArchiveState::Failed;
                lease.record.error = Some(error.to_string());
                lease.write().await;
            }
        }
    }

    /// Makes the VOD's storyboard ([`crate::storyboard`]) once its segments
    /// are in place: whether it was stored. A VOD without one is complete
    /// all the same (a warning and the metric say why).
    async fn storyboard(&self, finished: &Finished, prefix: &str) -> bool {
        let Some(master) = finished.manifest("master.m3u8") else {
            return false;
        };
        let started = Instant::now();
        let made =
            crate::storyboard::make(self.storage(), prefix, &master, |p| finished.manifest(p))
                .await;
        let seconds = started.elapsed().as_secs_f64();
        if let Some(m) = &self.metrics {
            m.storyboard(made.is_ok());
        }
        match made {
            Ok(made) => {
                tracing::info!(%prefix, tiles = made.tiles, planned = made.planned, sprites = made.sprites, seconds, "storyboard stored");
                true
            }
            Err(error) => {
                tracing::warn!(%prefix, %error, seconds, "the VOD has no storyboard; it plays all the same");
                false
            }
        }
    }

    /// Deletes the live copy at the record's `delete_live_at_ms`, unless
    /// another node took the deletion over meanwhile.
    async fn delete_live_later(
        self: Arc<Self>,
        mut lease: Lease,
        finished: Finished,
        named: Named,
    ) {
        let Some(at) = lease.record.delete_live_at_ms else {
            return;
        };
        let wait = (at - now_unix_ms()).max(0) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        // The claim: a node that took the deletion over has made it.
        if lease.write().await == Hold::Lost {
            tracing::info!(broadcast = %lease.record.id, "another node deletes the live copy");
            return;
        }
        retention::delete_live(&self, &finished, &named).await;
        lease.record.live_deleted_ms = Some(now_unix_ms());
        lease.write().await;
    }

    pub(crate) fn storage(&self) -> &dyn Storage {
        &self.storage
    }

    pub(crate) fn metrics(&self) -> Option<&ArchiveMetrics> {
        self.metrics.as_ref()
    }
}

/// The final manifests among a batch of packager outputs.
pub(crate) fn manifests_of(outputs: Vec<Output>) -> Vec<(String, Bytes)> {
    outputs
        .into_iter()
        .filter(Output::is_manifest)
        .map(|o| {
            let Output::Put { path, body, .. } = o;
            (path, body)
        })
        .collect()
}

/// Media seconds of the first track.
fn duration_seconds(state: &PackagerState) -> f64 {
    state.tracks.first().map_or(0.0, |t| {
        let ticks: i64 = t.runs.iter().map(|r| r.duration * i64::from(r.count)).sum();
        ticks as f64 / f64::from(t.timescale.max(1))
    })
}

/// Segments of the first track.
fn segment_count(state: &PackagerState) -> u64 {
    state
        .tracks
        .first()
        .map_or(0, |t| t.runs.iter().map(|r| u64::from(r.count)).sum())
}
