//! An ordered, bounded upload queue on a background task.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod losses;
mod task;

use losses::Losses;
pub use losses::MissingObjects;
use task::Task;

use crate::{
    validate_key, CacheClass, ObjectMeta, RetryPolicy, Storage, StorageError, StorageMetrics,
};

/// One object to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The object key.
    pub key: String,
    /// The whole object.
    pub body: Bytes,
    /// Its content type and cache class.
    pub meta: ObjectMeta,
    /// For a manifest: the writer's count of lost segments
    /// ([`MissingObjects::lost`]) its gaps were marked from. The manifest is
    /// stored only if no segment was lost since, so it never names a
    /// segment that is not there; otherwise it is skipped, and the next
    /// version (which marks the new gap) replaces it. `None`: always stored.
    pub names_as_of: Option<u64>,
}

impl Put {
    /// A put whose metadata is derived from the key ([`ObjectMeta::for_key`]).
    pub fn new(key: impl Into<String>, body: impl Into<Bytes>) -> Self {
        let key = key.into();
        let meta = ObjectMeta::for_key(&key);
        Put {
            key,
            body: body.into(),
            meta,
            names_as_of: None,
        }
    }

    /// Stores this (manifest) put only if no segment was lost after `lost`
    /// (see [`Put::names_as_of`]).
    pub fn naming_as_of(mut self, lost: u64) -> Self {
        self.names_as_of = Some(lost);
        self
    }

    pub(super) fn is_segment(&self) -> bool {
        self.meta.cache == CacheClass::Immutable
    }
}

/// Settings of a [`StorageWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Puts that may wait in the queue. Size it for a few segment durations
    /// of output (each segment of each rendition, its playlist, the master
    /// playlist and the MPD): the queue absorbs a slow store for that long.
    pub queue_capacity: usize,
    /// Retries of each put.
    pub retry: RetryPolicy,
    /// Bytes of given-up puts kept in memory and tried again in the
    /// background. A put that does not fit is lost for good (logged; its
    /// segment stays a gap).
    pub parked_bytes: usize,
    /// Pause between two background attempts at the parked puts.
    pub parked_retry: Duration,
    /// Segments stored at once (the segments of one step, one per rendition,
    /// go up together; a manifest waits until the segments before it are done).
    pub parallel: usize,
    /// How long [`StorageWriter::blocking_put_within`] waits for room in a
    /// full queue.
    pub max_wait: Duration,
}

impl Default for WriterOptions {
    /// 256 puts: about 10 segment durations of a four-rendition ladder;
    /// 128 MiB of parked puts (a few minutes of one channel's ladder at a few
    /// Mbit/s), tried again every 2 s; 4 segments at once; 2 s of waiting for
    /// room before a segment is dropped.
    fn default() -> Self {
        WriterOptions {
            queue_capacity: 256,
            retry: RetryPolicy::default(),
            parked_bytes: 128 << 20,
            parked_retry: Duration::from_secs(2),
            parallel: 4,
            max_wait: Duration::from_secs(2),
        }
    }
}

/// Why a put was not queued.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The key breaks the key rules; nothing was queued.
    #[error(transparent)]
    BadKey(#[from] StorageError),
    /// The queue is full: the store has fallen behind the stream.
    #[error("storage queue is full ({capacity} puts waiting); dropping put of {key:?} because the store is slower than the stream")]
    Full {
        /// The key that was not queued.
        key: String,
        /// The queue capacity.
        capacity: usize,
    },
    /// The background task has stopped (the runtime is shutting down).
    #[error("storage writer has stopped; put of {key:?} was not queued")]
    Closed {
        /// The key that was not queued.
        key: String,
    },
}

/// Which keys a sweep deletes, given each whole key listed under its prefix.
pub type SweepFilter = Box<dyn Fn(&str) -> bool + Send + Sync>;

pub(super) enum Command {
    Put(Put),
    /// Delete an expired object, after the puts queued before.
    Delete(String),
    /// Delete every key under a prefix that the filter picks (objects a
    /// writer that stopped left behind), after the puts queued before.
    Sweep(String, SweepFilter),
    Flush(oneshot::Sender<()>),
    /// Try every parked put once now, then answer.
    Settle(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) depth: AtomicUsize,
    pub(super) failed: AtomicU64,
}

/// Puts objects in the order they are handed over, one at a time, on a
/// background tokio task, retrying each according to a [`RetryPolicy`].
///
/// Order is the point: the packager hands over a segment before the
/// playlist that names it, and the writer stores them in that order, so a
/// player never reads a playlist naming a segment that is not there yet.
///
/// A put that still fails after its retries is counted
/// ([`StorageWriter::failed_puts`], `livefleet_storage_puts_total{result="failed"}`),
/// logged and parked: kept in memory (up to [`WriterOptions::parked_bytes`])
/// and tried again every [`WriterOptions::parked_retry`] for as long as the
/// writer runs, so the archive gets it once the store is back. The puts
/// behind it still go, so one lost segment costs players one gap rather than
/// stopping the channel. A lost segment is reported by
/// [`StorageWriter::missing`] until it is stored; whoever renders manifests
/// marks it as a gap, and tags each manifest put with the loss count it saw
/// ([`Put::naming_as_of`]), so that no manifest naming a lost segment
/// unmarked is ever stored. A parked manifest is dropped when a newer
/// version of it is stored.
///
/// Dropping the writer lets the task finish the queued puts and stop;
/// [`StorageWriter::close`] does the same and waits for it.
#[derive(Debug)]
pub struct StorageWriter {
    commands: mpsc::Sender<Command>,
    capacity: usize,
    max_wait: Duration,
    counters: Arc<Counters>,
    losses: Arc<Losses>,
    metrics: StorageMetrics,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Put(put) => write!(f, "Put({})", put.key),
            Command::Delete(key) => write!(f, "Delete({key})"),
            Command::Sweep(prefix, _) => write!(f, "Sweep({prefix})"),
            Command::Flush(_) => f.write_str("Flush"),
            Command::Settle(_) => f.write_str("Settle"),
        }
    }
}

impl StorageWriter {
    /// Starts the background task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime (as [`tokio::spawn`] does).
    pub fn spawn(
        storage: Arc<dyn Storage>,
        options: WriterOptions,
        metrics: StorageMetrics,
    ) -> Self {
        let capacity = options.queue_capacity.max(1);
        let max_wait = options.max_wait;
        let (commands, queue) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let losses = Arc::new(Losses::default());
        let task = tokio::spawn(
            Task {
                storage,
                options,
                counters: counters.clone(),
                losses: losses.clone(),
                metrics: metrics.clone(),
                parked: Vec::new(),
                parked_bytes: 0,
                parked_deletes: Vec::new(),
                down: false,
            }
            .run(queue),
        );
        StorageWriter {
            commands,
            capacity,
            max_wait,
            counters,
            losses,
            metrics,
            task,
        }
    }

    fn check(&self, put: &Put) -> Result<(), WriterError> {
        validate_key(&put.key)?;
        Ok(())
    }

    fn queued(&self) {
        self.counters.depth.fetch_add(1, Ordering::Relaxed);
        self.metrics.queue_depth.inc();
    }

    fn not_queued(&self) {
        self.counters.depth.fetch_sub(1, Ordering::Relaxed);
        self.metrics.queue_depth.dec();
    }

    /// Queues `put` without waiting; fails with [`WriterError::Full`] when
    /// the queue is full. For callers that must never wait on the store.
    pub fn try_put(&self, put: Put) -> Result<(), WriterError> {
        self.check(&put)?;
        self.queued();
        match self.commands.try_send(Command::Put(put)) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.not_queued();
                Err(match error {
                    mpsc::error::TrySendError::Full(Command::Put(put)) => WriterError::Full {
                        key: put.key,
                        capacity: self.capacity,
                    },
                    mpsc::error::TrySendError::Closed(Command::Put(put)) => {
                        WriterError::Closed { key: put.key }
                    }
                    _ => WriterError::Closed { key: String::new() },
                })
            }
        }
    }

    /// Queues `put`, waiting for room when the queue is full.
    pub async fn put(&self, put: Put) -> Result<(), WriterError> {
        self.check(&put)?;
        self.queued();
        self.commands
            .send(Command::Put(put))
            .await
            .map_err(|mpsc::error::SendError(command)| {
                self.not_queued();
                closed(command)
            })
    }

    /// Queues `put` from a thread outside the runtime (an encoder thread),
    /// blocking that thread while the queue is full.
    ///
    /// # Panics
    /// When called from asynchronous code (as [`mpsc::Sender::blocking_send`]).
    pub fn blocking_put(&self, put: Put) -> Result<(), WriterError> {
        self.check(&put)?;
        self.queued();
        self.commands
            .blocking_send(Command::Put(put))
            .map_err(|mpsc::error::SendError(command)| {
                self.not_queued();
                closed(command)
            })
    }

    /// Queues `put` from a thread outside the runtime, waiting at most
    /// [`WriterOptions::max_wait`] for room: the bound on how long a store
    /// that has fallen behind can hold up the packager (and the encoders
    /// behind it). When the queue stays full, a media segment is dropped
    /// and marked missing (the manifests mark its gap;
    /// `livefleet_storage_puts_total{result="dropped"}`), and
    /// [`WriterError::Full`] says so; anything else waits for room, since a
    /// manifest or init segment cannot be marked.
    ///
    /// # Panics
    /// When called from asynchronous code.
    pub fn blocking_put_within(&self, put: Put) -> Result<(), WriterError> {
        self.check(&put)?;
        if !put.is_segment() || !put.key.ends_with(".m4s") {
            return self.blocking_put(put);
        }
        let deadline = std::time::Instant::now() + self.max_wait;
        let mut put = put;
        loop {
            self.queued();
            match self.commands.try_send(Command::Put(put)) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Closed(command)) => {
                    self.not_queued();
                    return Err(closed(command));
                }
                Err(mpsc::error::TrySendError::Full(command)) => {
                    self.not_queued();
                    let Command::Put(p) = command else {
                        return Err(WriterError::Closed { key: String::new() });
                    };
                    put = p;
                }
            }
            if std::time::Instant::now() >= deadline {
                self.drop_segment(&put.key);
                return Err(WriterError::Full {
                    key: put.key,
                    capacity: self.capacity,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A segment that never reached the queue: lost for good, marked missing
    /// (manifests already queued that were made before the loss are held,
    /// see [`Put::naming_as_of`]).
    fn drop_segment(&self, key: &str) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        self.metrics.dropped();
        if self.losses.record_loss_once(key) {
            self.metrics.missing.inc();
        }
        tracing::error!(
            key,
            capacity = self.capacity,
            "storage queue full for {:?}: segment dropped; the manifests mark it as a gap",
            self.max_wait
        );
    }

    /// Waits until every put queued before this call has been stored or
    /// given up.
    pub async fn flush(&self) -> Result<(), WriterError> {
        let (done, wait) = oneshot::channel();
        self.commands
            .send(Command::Flush(done))
            .await
            .map_err(|_| WriterError::Closed { key: String::new() })?;
        wait.await
            .map_err(|_| WriterError::Closed { key: String::new() })
    }

    /// Queues the deletion of `key` (an expired segment) behind the puts
    /// queued before, from a thread outside the runtime, blocking while the
    /// queue is full. A put of `key` still parked is dropped, a loss of it
    /// forgotten; a delete that fails after its retries is parked like a put
    /// and tried again with them.
    ///
    /// # Panics
    /// When called from asynchronous code.
    pub fn blocking_delete(&self, key: String) -> Result<(), WriterError> {
        validate_key(&key)?;
        self.commands
            .blocking_send(Command::Delete(key))
            .map_err(|mpsc::error::SendError(command)| closed(command))
    }

    /// Queues a sweep of `prefix`: the keys under it that `doomed` picks
    /// are deleted as [`StorageWriter::blocking_delete`] deletes one, behind
    /// the puts queued before. One listing; a listing that fails leaves
    /// the objects to the bucket's lifecycle rule, with a `warn` line.
    ///
    /// # Panics
    /// When called from asynchronous code.
    pub fn blocking_sweep(&self, prefix: String, doomed: SweepFilter) -> Result<(), WriterError> {
        validate_key(&format!("{prefix}x"))?;
        self.commands
            .blocking_send(Command::Sweep(prefix, doomed))
            .map_err(|mpsc::error::SendError(command)| closed(command))
    }

    /// Blocking [`StorageWriter::flush`], for threads outside the runtime.
    ///
    /// # Panics
    /// When called from asynchronous code.
    pub fn blocking_flush(&self) -> Result<(), WriterError> {
        self.blocking_command(Command::Flush)
    }

    /// Waits until every put queued before this call has been stored or
    /// parked, then tries every parked put once more. For the end of a
    /// broadcast, before its last manifests are made. Blocking, for threads
    /// outside the runtime.
    ///
    /// # Panics
    /// When called from asynchronous code.
    pub fn blocking_settle(&self) -> Result<(), WriterError> {
        self.blocking_command(Command::Settle)
    }

    fn blocking_command(
        &self,
        make: fn(oneshot::Sender<()>) -> Command,
    ) -> Result<(), WriterError> {
        let (done, wait) = oneshot::channel();
        self.commands
            .blocking_send(make(done))
            .map_err(|_| WriterError::Closed { key: String::new() })?;
        wait.blocking_recv()
            .map_err(|_| WriterError::Closed { key: String::new() })
    }

    /// A counter that changes whenever [`StorageWriter::missing`] does.
    pub fn missing_version(&self) -> u64 {
        self.losses.version.load(Ordering::Acquire)
    }

    /// The segments under `prefix` that are not stored, and the loss count.
    pub fn missing(&self, prefix: &str) -> MissingObjects {
        let state = self.losses.state.lock().unwrap_or_else(|e| e.into_inner());
        MissingObjects {
            lost: state.lost,
            keys: state
                .missing
                .range(prefix.to_owned()..)
                .take_while(|k| k.starts_with(prefix))
                .cloned()
                .collect(),
        }
    }

    /// Puts waiting in the queue (not counting the one being stored).
    pub fn queue_depth(&self) -> usize {
        self.counters.depth.load(Ordering::Relaxed)
    }

    /// The queue capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Puts given up after all retries since the writer started.
    pub fn failed_puts(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Stops taking puts, stores the queued ones, and waits for the task.
    pub async fn close(self) {
        let StorageWriter { commands, task, .. } = self;
        drop(commands);
        if let Err(error) = task.await {
            tracing::error!(%error, "storage writer task ended abnormally");
        }
    }
}

fn closed(command: Command) -> WriterError {
    match command {
        Command::Put(put) => WriterError::Closed { key: put.key },
        Command::Delete(key) | Command::Sweep(key, _) => WriterError::Closed { key },
        Command::Flush(_) | Command::Settle(_) => WriterError::Closed { key: String::new() },
    }
}
