//! An ordered, bounded upload queue on a background task.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::retry::put_with_retry;
use crate::{validate_key, ObjectMeta, RetryPolicy, Storage, StorageError, StorageMetrics};

/// One object to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The object key.
    pub key: String,
    /// The whole object.
    pub body: Bytes,
    /// Its content type and cache class.
    pub meta: ObjectMeta,
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
        }
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
}

impl Default for WriterOptions {
    /// 256 puts: about 10 segment durations of a four-rendition ladder.
    fn default() -> Self {
        WriterOptions {
            queue_capacity: 256,
            retry: RetryPolicy::default(),
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

enum Command {
    Put(Put),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
struct Counters {
    depth: AtomicUsize,
    failed: AtomicU64,
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
/// logged, and skipped; the puts behind it still go, so one lost segment
/// costs players one gap rather than stopping the channel.
///
/// Dropping the writer lets the task finish the queued puts and stop;
/// [`StorageWriter::close`] does the same and waits for it.
#[derive(Debug)]
pub struct StorageWriter {
    commands: mpsc::Sender<Command>,
    capacity: usize,
    counters: Arc<Counters>,
    metrics: StorageMetrics,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Put(put) => write!(f, "Put({})", put.key),
            Command::Flush(_) => f.write_str("Flush"),
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
        let (commands, queue) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(
            storage,
            queue,
            options.retry,
            counters.clone(),
            metrics.clone(),
        ));
        StorageWriter {
            commands,
            capacity,
            counters,
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
        Command::Flush(_) => WriterError::Closed { key: String::new() },
    }
}

async fn run(
    storage: Arc<dyn Storage>,
    mut queue: mpsc::Receiver<Command>,
    policy: RetryPolicy,
    counters: Arc<Counters>,
    metrics: StorageMetrics,
) {
    while let Some(command) = queue.recv().await {
        match command {
            Command::Put(put) => {
                counters.depth.fetch_sub(1, Ordering::Relaxed);
                metrics.queue_depth.dec();
                let result =
                    put_with_retry(&*storage, &put.key, &put.body, &put.meta, &policy, &metrics)
                        .await;
                if result.is_err() {
                    // Already logged with the error by the retry loop.
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Command::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
    tracing::debug!("storage writer drained; stopping");
}
