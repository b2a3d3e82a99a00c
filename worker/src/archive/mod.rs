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
//! ```
//!
//! See `docs/design/archive.md` for the choices and their limits.

mod metrics;
mod objects;
mod retention;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::{now_unix_ms, ChannelName};
use livefleet_bus::{ArchiveState, ArchivedBroadcast, BroadcastIndex};
use livefleet_packager::{Output, PackagerState};
use livefleet_storage::{ObjectMeta, RetryPolicy, RetryingStorage, Storage, StorageMetrics};
use serde::Deserialize;

pub use metrics::ArchiveMetrics;
use objects::Named;

/// Copies in flight per broadcast.
const PARALLEL_COPIES: usize = 8;
/// How long a segment the playlists name may take to appear in the store
/// (the storage writer may still be retrying it).
const MISSING_WAIT: Duration = Duration::from_secs(30);

/// The archive settings of a worker (`archive:` in its configuration).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Keep every broadcast as VOD under `vod/<channel>/<broadcast>/`.
    pub enabled: bool,
    /// Seconds after a complete archive at which the broadcast's live
    /// objects are deleted; `null` keeps them (leave it to a bucket
    /// lifecycle rule on `live/`).
    pub delete_live_after_seconds: Option<f64>,
    /// Seconds to wait after the end for the chat relay's last replay files.
    pub chat_settle_seconds: f64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            enabled: true,
            delete_live_after_seconds: None,
            chat_settle_seconds: 5.0,
        }
    }
}

impl ArchiveConfig {
    /// Checks the values (finite, not negative).
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !ok(self.chat_settle_seconds) {
            return Err(
                "archive.chat_settle_seconds must be a number of seconds, 0 or more".into(),
            );
        }
        if self.delete_live_after_seconds.is_some_and(|v| !ok(v)) {
            return Err("archive.delete_live_after_seconds must be a number of seconds, 0 or more (or null)".into());
        }
        Ok(())
    }

    fn delete_live_after(&self) -> Option<Duration> {
        self.delete_live_after_seconds.map(Duration::from_secs_f64)
    }
}

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

/// Makes the VOD copies of the node's broadcasts, on tasks of their own.
pub struct Archiver {
    config: ArchiveConfig,
    storage: RetryingStorage<Arc<dyn Storage>>,
    index: Option<BroadcastIndex>,
    metrics: Option<ArchiveMetrics>,
    running: AtomicUsize,
}

impl std::fmt::Debug for Archiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Archiver {
    pub fn new(
        config: ArchiveConfig,
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
            storage: RetryingStorage::new(storage, policy, storage_metrics),
            index,
            metrics,
            running: AtomicUsize::new(0),
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
        let this = self.clone();
        this.running.fetch_add(1, Ordering::Relaxed);
        runtime.spawn(async move {
            let span = tracing::info_span!("archive", channel = %ended.channel);
            let _ = tracing::Instrument::instrument(this.archive(ended), span).await;
            this.running.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Archives still being made (their deletions of live objects not counted).
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
                "stopping with archives unfinished; their VOD has no master playlist"
            );
        }
    }

    async fn archive(self: &Arc<Self>, ended: Ended) {
        let started = Instant::now();
        let Some(first) = ended.state.periods.first() else {
            tracing::debug!("nothing was published; no archive");
            return;
        };
        let id = ArchivedBroadcast::make_id(first.wallclock_ms, first.first_number);
        let prefix = format!("vod/{}/{id}/", ended.channel);
        let mut record = ArchivedBroadcast {
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
        };
        self.record(&record).await;
        tracing::info!(broadcast = %id, %prefix, "archiving the broadcast");
        let result = self.copy_all(&ended, &prefix).await;
        record.updated_ms = now_unix_ms();
        match result {
            Ok(named) => {
                record.state = ArchiveState::Complete;
                record.gaps = named.gaps.len() as u64;
                self.record(&record).await;
                let seconds = started.elapsed().as_secs_f64();
                if let Some(m) = &self.metrics {
                    m.finished(true, seconds);
                }
                tracing::info!(broadcast = %id, %prefix, seconds, gaps = record.gaps, "broadcast archived");
                if let Some(after) = self.config.delete_live_after() {
                    tokio::time::sleep(after).await;
                    retention::delete_live(self, &ended, &named).await;
                }
            }
            Err(error) => {
                if let Some(m) = &self.metrics {
                    m.finished(false, started.elapsed().as_secs_f64());
                }
                tracing::error!(broadcast = %id, %prefix, %error, "the broadcast could not be archived; its live copy is kept");
                record.state = ArchiveState::Failed;
                record.error = Some(error);
                self.record(&record).await;
            }
        }
    }

    /// Copies every object, then the chat files, then stores the manifests.
    async fn copy_all(&self, ended: &Ended, prefix: &str) -> Result<Named, String> {
        let manifest = |path: &str| {
            ended
                .manifests
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        };
        let master = manifest("master.m3u8").ok_or("the final manifests have no master.m3u8")?;
        let named = objects::named(&master, manifest)?;
        let mut copies = Vec::new();
        for path in named.inits.iter().chain(&named.segments) {
            copies.push(futures::future::Either::Left(
                self.copy_required(ended, prefix, path),
            ));
        }
        // A gap's segment may have reached the store after all: keep it too.
        for path in &named.gaps {
            copies.push(futures::future::Either::Right(async move {
                self.copy_present(ended, prefix, path).await.map(|_| ())
            }));
        }
        let results: Vec<Result<(), String>> = futures::stream::iter(copies)
            .buffer_unordered(PARALLEL_COPIES)
            .collect()
            .await;
        if let Some(error) = results.into_iter().find_map(Result::err) {
            return Err(error);
        }
        self.copy_chat(ended, prefix, &named).await?;
        // The master last: a VOD with a master is complete.
        let mut manifests: Vec<&(String, Bytes)> = ended.manifests.iter().collect();
        manifests.sort_by_key(|(path, _)| path == "master.m3u8");
        for (path, body) in manifests {
            let key = format!("{prefix}{path}");
            let meta = ObjectMeta::for_key(&key);
            self.storage
                .put(&key, body.clone(), meta)
                .await
                .map_err(|e| format!("storing {key}: {e}"))?;
        }
        Ok(named)
    }

    /// Copies an object the VOD names; waits a while for one not stored yet.
    async fn copy_required(&self, ended: &Ended, prefix: &str, path: &str) -> Result<(), String> {
        let deadline = Instant::now() + MISSING_WAIT;
        loop {
            if self.copy_present(ended, prefix, path).await? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}{path} is named by the final playlists but not in the store after {}s",
                    ended.live_prefix,
                    MISSING_WAIT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Copies `path` if it is stored; whether it was.
    async fn copy_present(&self, ended: &Ended, prefix: &str, path: &str) -> Result<bool, String> {
        let from = format!("{}{path}", ended.live_prefix);
        let to = format!("{prefix}{path}");
        let meta = ObjectMeta::for_key(&to);
        let copied = self
            .storage
            .copy(&from, &to, meta)
            .await
            .map_err(|e| format!("copying {from} to {to}: {e}"))?;
        if copied {
            if let Some(m) = &self.metrics {
                m.copied.inc();
            }
        }
        Ok(copied)
    }

    /// The chat replay files of the broadcast's segments (written by the
    /// chat relay shortly after the end), where there are any.
    async fn copy_chat(&self, ended: &Ended, prefix: &str, named: &Named) -> Result<(), String> {
        let Some((first, last)) = named.number_range() else {
            return Ok(());
        };
        let settle = Duration::from_secs_f64(self.config.chat_settle_seconds);
        let since_end = Duration::from_millis((now_unix_ms() - ended.ended_ms).max(0) as u64);
        tokio::time::sleep(settle.saturating_sub(since_end)).await;
        let chat_prefix = format!("{}chat/", ended.live_prefix);
        let keys = self
            .storage
            .list(&chat_prefix)
            .await
            .map_err(|e| format!("listing {chat_prefix}: {e}"))?;
        let files: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&ended.live_prefix))
            .filter(|p| {
                p.strip_prefix("chat/")
                    .and_then(|f| f.strip_suffix(".json"))
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| (first..=last).contains(&n))
            })
            .map(str::to_owned)
            .collect();
        for path in &files {
            self.copy_present(ended, prefix, path).await?;
        }
        tracing::debug!(files = files.len(), "chat replay files archived");
        Ok(())
    }

    async fn record(&self, record: &ArchivedBroadcast) {
        if let Some(index) = &self.index {
            if let Err(e) = index.put(record).await {
                tracing::warn!(broadcast = %record.id, error = %e, "cannot record the archived broadcast on the bus");
            }
        }
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
        .filter(crate::sink::is_manifest)
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
