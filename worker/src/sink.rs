//! Where packaged objects go: the [`OutputSink`] a broadcast writes through,
//! and the two sinks of the worker: [`StorageSink`] (synchronous, for
//! `transcode`) and [`WriterSink`] (the ordered, retrying storage writer of
//! live channels).

use std::sync::Arc;

use livefleet_base::chat_replay_number;
use livefleet_base::ChannelName;
use livefleet_packager::{segment_number, CacheClass, Output, PackagerState};
use livefleet_storage::{ObjectMeta, Put, Storage, StorageError, StorageWriter, WriterError};

use crate::archive::{manifest_text, manifests_of, Archiver, Ended};
pub use crate::failover_state::FenceReason;

/// Why a sink refused a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Another worker holds the channel now (a newer assignment epoch): this
    /// one must stop without touching the manifests.
    #[error("channel {channel} is fenced at epoch {epoch}: {why}")]
    Fenced {
        channel: String,
        epoch: u64,
        why: FenceReason,
    },
    /// The store refused an object (`transcode`'s synchronous writes).
    #[error("writing {key}: {source}")]
    Store { key: String, source: StorageError },
    /// The storage writer refused a put for good (a bad key, or it stopped).
    #[error(transparent)]
    Writer(WriterError),
}

/// Where packaged objects go. Called from the packager thread, in the order
/// the objects must be written (segments before the playlists naming them).
pub trait OutputSink: Send + 'static {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), SinkError>;

    /// A broadcast's packager starts with `state`, before it writes
    /// anything (a standalone node keeps it: `kept_state.rs`).
    fn started(&mut self, _state: &PackagerState) {}

    /// Writes a batch that updates the manifests; `state` is the packager
    /// state once they are written (a fleet worker saves it, fenced, so
    /// another worker can continue the broadcast).
    fn write_published(
        &mut self,
        outputs: Vec<Output>,
        _state: &PackagerState,
    ) -> Result<(), SinkError> {
        self.write(outputs)
    }

    /// The packager paths (`<track>/<n>.m4s`) of the segments that could not
    /// be stored, when they changed since the last call. A sink that fails
    /// instead of losing a put never has any (the default).
    fn missing_changed(&mut self) -> Option<Vec<String>> {
        None
    }

    /// Waits until everything written is stored or given up, and tries what
    /// was given up once more: the end of a broadcast, before its last manifests.
    fn settle(&mut self) {}

    /// Segments that left the live manifests long enough ago (packager
    /// paths, see `PackagerConfig::expire_segments`): a sink that stores
    /// deletes them. Never called unless the broadcast expires segments.
    /// No default: a sink that wraps another must hand them on.
    fn expire(&mut self, paths: Vec<String>);

    /// After a resume: media segments (and their chat files) numbered
    /// `[from, below)` that expired under the worker before, which may have
    /// stopped before deleting them ([`livefleet_packager::Packager::take_sweep`]).
    /// A sink that stores deletes whatever of them it still holds.
    fn sweep(&mut self, numbers: (u64, u64));

    /// The broadcast ended and its final manifests (`manifests`, already
    /// written) are settled: a sink that archives starts the VOD copy.
    fn ended(&mut self, _manifests: Vec<Output>, _state: &PackagerState) {}
}

/// Writes packager output into any [`Storage`], synchronously and in order.
pub struct StorageSink {
    runtime: tokio::runtime::Runtime,
    storage: Arc<dyn Storage>,
    prefix: String,
}

impl StorageSink {
    /// `prefix` is put in front of every key (e.g. `live/demo/`; empty for none).
    pub fn new(storage: Arc<dyn Storage>, prefix: impl Into<String>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self::with_runtime(runtime, storage, prefix))
    }

    /// As [`StorageSink::new`], on the runtime the storage was opened on
    /// (an S3 client's connections belong to it).
    pub fn with_runtime(
        runtime: tokio::runtime::Runtime,
        storage: Arc<dyn Storage>,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            runtime,
            storage,
            prefix: prefix.into(),
        }
    }
}

impl OutputSink for StorageSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), SinkError> {
        for o in outputs {
            let Output::Put {
                path, body, cache, ..
            } = o;
            let key = format!("{}{}", self.prefix, path);
            let meta = ObjectMeta::packaged(&key, cache);
            self.runtime
                .block_on(self.storage.put(&key, body, meta))
                .map_err(|source| SinkError::Store { key, source })?;
        }
        Ok(())
    }

    /// A file's output (`transcode`) keeps every segment: nothing expires.
    fn expire(&mut self, _paths: Vec<String>) {}

    /// A file's output is a complete VOD once its final manifests are
    /// written: its storyboard ([`crate::storyboard`]) goes beside them. A
    /// storyboard that cannot be made is a warning; the VOD plays without.
    fn ended(&mut self, manifests: Vec<Output>, _state: &PackagerState) {
        let manifests = manifests_of(manifests);
        let Some(master) = manifest_text(&manifests, "master.m3u8") else {
            return;
        };
        let made = self.runtime.block_on(crate::storyboard::make(
            &*self.storage,
            &self.prefix,
            &master,
            |p| manifest_text(&manifests, p),
        ));
        match made {
            Ok(made) => {
                tracing::info!(
                    tiles = made.tiles,
                    planned = made.planned,
                    sprites = made.sprites,
                    "storyboard stored"
                )
            }
            Err(error) => {
                tracing::warn!(%error, "the output has no storyboard; it plays all the same")
            }
        }
    }

    fn sweep(&mut self, _numbers: (u64, u64)) {}
}

/// Packager output into the ordered, retrying storage writer.
///
/// Segments the writer gives up on come back to the packager through
/// [`OutputSink::missing_changed`] and are marked as gaps; every manifest put
/// carries the loss count its gaps reflect ([`Put::naming_as_of`]), so the
/// writer never stores a manifest that names a lost segment unmarked.
pub struct WriterSink {
    pub(crate) writer: Arc<StorageWriter>,
    /// Where an ended broadcast is archived.
    archive: Option<ArchiveHook>,
    /// Key prefix, e.g. `live/demo/`.
    prefix: String,
    /// The writer's missing-set version last handed to the packager.
    seen_version: Option<u64>,
    /// The loss count the packager's gaps reflect.
    lost_as_of: u64,
}

impl WriterSink {
    pub fn new(writer: Arc<StorageWriter>, prefix: String) -> Self {
        Self {
            writer,
            archive: None,
            prefix,
            seen_version: None,
            lost_as_of: 0,
        }
    }

    /// Archives each broadcast of `channel` when it ends (if `archiver` is enabled).
    pub fn archiving(
        mut self,
        archiver: Arc<Archiver>,
        channel: ChannelName,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        if archiver.enabled() {
            self.archive = Some(ArchiveHook {
                archiver,
                channel,
                runtime,
            });
        }
        self
    }
}

/// What a [`WriterSink`] needs to archive a broadcast.
struct ArchiveHook {
    archiver: Arc<Archiver>,
    channel: ChannelName,
    runtime: tokio::runtime::Handle,
}

impl OutputSink for WriterSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), SinkError> {
        for o in outputs {
            let Output::Put {
                path, body, cache, ..
            } = o;
            let key = format!("{}{}", self.prefix, path);
            let mut put = Put {
                meta: ObjectMeta::packaged(&key, cache),
                key,
                body,
                names_as_of: None,
            };
            if put.meta.cache != CacheClass::Immutable {
                put = put.naming_as_of(self.lost_as_of);
            }
            match self.writer.blocking_put_within(put) {
                Ok(()) => {}
                // Dropped and marked missing by the writer: the manifests mark the gap.
                Err(WriterError::Full { .. }) => {}
                Err(e) => return Err(SinkError::Writer(e)),
            }
        }
        Ok(())
    }

    fn missing_changed(&mut self) -> Option<Vec<String>> {
        let version = self.writer.missing_version();
        if self.seen_version == Some(version) {
            return None;
        }
        self.seen_version = Some(version);
        let missing = self.writer.missing(&self.prefix);
        self.lost_as_of = missing.lost;
        Some(
            missing
                .keys
                .into_iter()
                .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
                .collect(),
        )
    }

    fn settle(&mut self) {
        if let Err(e) = self.writer.blocking_settle() {
            tracing::warn!(error = %e, "could not wait for the storage writer");
        }
    }

    /// Deletes each path, and the chat replay file of each media segment
    /// number among them, behind the puts already queued.
    fn expire(&mut self, paths: Vec<String>) {
        let numbers: std::collections::BTreeSet<u64> =
            paths.iter().filter_map(|p| segment_number(p)).collect();
        let chat = numbers.into_iter().map(livefleet_base::chat_replay_path);
        let count = paths.len();
        for path in paths.into_iter().chain(chat) {
            let key = format!("{}{path}", self.prefix);
            if let Err(e) = self.writer.blocking_delete(key) {
                tracing::warn!(error = %e, "cannot queue the deletion of an expired object");
                return;
            }
        }
        tracing::debug!(objects = count, "expired segments queued for deletion");
    }

    /// One listing of the channel's prefix; its media segments and chat
    /// files numbered `[from, below)` are deleted behind the puts queued.
    fn sweep(&mut self, (from, below): (u64, u64)) {
        let prefix = self.prefix.clone();
        let doomed = move |key: &str| {
            key.strip_prefix(&prefix)
                .and_then(|path| segment_number(path).or_else(|| chat_replay_number(path)))
                .is_some_and(|n| (from..below).contains(&n))
        };
        if let Err(e) = self
            .writer
            .blocking_sweep(self.prefix.clone(), Box::new(doomed))
        {
            tracing::warn!(error = %e, "cannot queue the sweep of what the worker before left");
        }
    }

    fn ended(&mut self, manifests: Vec<Output>, state: &PackagerState) {
        if let Some(hook) = &self.archive {
            hook.archiver.submit(
                &hook.runtime,
                Ended {
                    channel: hook.channel.clone(),
                    live_prefix: self.prefix.clone(),
                    manifests: manifests_of(manifests),
                    state: state.clone(),
                    ended_ms: livefleet_base::now_unix_ms(),
                },
            );
        }
    }
}
