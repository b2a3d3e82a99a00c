//! The writer's background task: the queue in order (the segments before a
//! manifest stored together), and between its puts the parked ones, tried
//! again every few seconds.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Command, Counters, Losses, Put, WriterOptions};
use crate::retry::{delete_with_retry, put_with_retry};
use crate::{Storage, StorageError, StorageMetrics};

/// Deletes kept for another attempt; beyond them, an expired object is left
/// to the bucket's lifecycle rule (a store down for a long time).
const MAX_PARKED_DELETES: usize = 100_000;

/// The background task: the queue in order, and the parked puts between.
pub(super) struct Task {
    pub(super) storage: Arc<dyn Storage>,
    pub(super) options: WriterOptions,
    pub(super) counters: Arc<Counters>,
    pub(super) losses: Arc<Losses>,
    pub(super) metrics: StorageMetrics,
    /// Given-up puts, oldest first, at most one per key.
    pub(super) parked: Vec<Put>,
    pub(super) parked_bytes: usize,
    /// Deletes given up (or not tried while the store is down), tried again
    /// with the parked puts.
    pub(super) parked_deletes: Vec<String>,
    /// A put failed after its retries with an error that may pass: the
    /// store is taken to be down, and queued puts are parked at once
    /// instead of waiting out their retries each; the parked retries probe
    /// it, and the first that succeeds ends this.
    pub(super) down: bool,
}

impl Task {
    pub(super) async fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let mut next_retry = tokio::time::Instant::now();
        // A command read ahead while gathering a batch of segments.
        let mut held: Option<Command> = None;
        loop {
            let command = if let Some(c) = held.take() {
                Some(c)
            } else if self.parked.is_empty() && self.parked_deletes.is_empty() {
                queue.recv().await
            } else {
                tokio::select! {
                    command = queue.recv() => command,
                    () = tokio::time::sleep_until(next_retry) => {
                        self.retry_parked().await;
                        next_retry = tokio::time::Instant::now() + self.options.parked_retry;
                        continue;
                    }
                }
            };
            let Some(command) = command else { break };
            match command {
                Command::Put(put) => {
                    self.taken();
                    if self.parked.is_empty() {
                        next_retry = tokio::time::Instant::now() + self.options.parked_retry;
                    }
                    if !put.is_segment() {
                        self.store(put).await;
                        continue;
                    }
                    // Segments up to the next manifest go up together (a
                    // segment of each rendition); the manifest waits for all.
                    let mut batch = vec![put];
                    while batch.len() < self.options.parallel.max(1) {
                        match queue.try_recv() {
                            Ok(Command::Put(p)) if p.is_segment() => {
                                self.taken();
                                batch.push(p);
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.store_batch(batch).await;
                }
                Command::Delete(key) => self.delete(key).await,
                Command::Sweep(prefix, doomed) => self.sweep(&prefix, doomed).await,
                Command::Flush(done) => {
                    let _ = done.send(());
                }
                Command::Settle(done) => {
                    self.retry_parked().await;
                    let _ = done.send(());
                }
            }
        }
        if !self.parked.is_empty() || !self.parked_deletes.is_empty() {
            self.retry_parked().await;
        }
        for put in &self.parked {
            tracing::error!(key = %put.key, "storage writer stopping; this object was never stored");
        }
        if !self.parked_deletes.is_empty() {
            tracing::warn!(
                objects = self.parked_deletes.len(),
                "storage writer stopping; expired objects not deleted are left to the bucket's lifecycle rule"
            );
        }
        tracing::debug!("storage writer drained; stopping");
    }

    /// One put left the queue.
    fn taken(&self) {
        self.counters.depth.fetch_sub(1, Ordering::Relaxed);
        self.metrics.queue_depth.dec();
    }

    async fn store(&mut self, put: Put) {
        if let Some(as_of) = put.names_as_of {
            if as_of < self.losses.lost() {
                // It may name a segment lost after it was made; its successor marks the gap.
                self.metrics.manifests_held.inc();
                tracing::debug!(key = %put.key, "manifest not stored: a segment it names was lost");
                return;
            }
        }
        let result = self.attempt(&put).await;
        self.settle_result(put, result);
    }

    /// Stores `batch` (segments) concurrently, then books the results in order.
    async fn store_batch(&mut self, batch: Vec<Put>) {
        let results = futures::future::join_all(batch.iter().map(|p| self.attempt(p))).await;
        for (put, result) in batch.into_iter().zip(results) {
            self.settle_result(put, result);
        }
    }

    /// Puts with retries; while the store is down, not at all (the parked
    /// retries probe it).
    async fn attempt(&self, put: &Put) -> Result<(), StorageError> {
        if self.down {
            self.metrics.failed();
            return Err(StorageError::Backend {
                key: put.key.clone(),
                message: "the store is not answering; parked until it does".into(),
                retryable: true,
            });
        }
        put_with_retry(
            &*self.storage,
            &put.key,
            &put.body,
            &put.meta,
            &self.options.retry,
            &self.metrics,
        )
        .await
    }

    fn settle_result(&mut self, put: Put, result: Result<(), StorageError>) {
        match result {
            Ok(()) => self.stored(&put),
            Err(error) => {
                // Already logged with the error by the retry loop.
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                if error.is_retryable() && !self.down {
                    self.down = true;
                    tracing::warn!(key = %put.key, %error, "the store is not answering; puts are parked until it answers again");
                }
                self.park(put);
            }
        }
    }

    fn is_missing(&self, key: &str) -> bool {
        self.losses
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .missing
            .contains(key)
    }

    /// `put` is stored: an older parked version of it is moot, a gap is closed.
    fn stored(&mut self, put: &Put) {
        if let Some(k) = self.parked.iter().position(|p| p.key == put.key) {
            let old = self.parked.remove(k);
            self.parked_bytes -= old.body.len();
            self.metrics.parked.dec();
        }
        if put.is_segment() && self.losses.record_stored(&put.key) {
            self.metrics.missing.dec();
            tracing::info!(key = %put.key, "segment stored after all; the manifests name it again");
        }
    }

    fn park(&mut self, put: Put) {
        if put.is_segment() && !self.is_missing(&put.key) {
            self.losses.record_loss(&put.key);
            self.metrics.missing.inc();
        }
        if let Some(k) = self.parked.iter().position(|p| p.key == put.key) {
            let old = self.parked.remove(k);
            self.parked_bytes -= old.body.len();
            self.metrics.parked.dec();
        }
        if self.parked_bytes + put.body.len() > self.options.parked_bytes {
            tracing::error!(
                key = %put.key,
                parked_bytes = self.parked_bytes,
                limit = self.options.parked_bytes,
                "too much waiting to be stored; this object is lost for good"
            );
            return;
        }
        if self.down {
            tracing::debug!(key = %put.key, "put parked; trying again in the background");
        } else {
            tracing::warn!(key = %put.key, "put parked; trying again in the background");
        }
        self.parked_bytes += put.body.len();
        self.metrics.parked.inc();
        self.parked.push(put);
    }

    /// Deletes an expired object: a parked put of it is moot, a loss of it
    /// forgotten. While the store is down, or when the delete fails after
    /// its retries, it waits with the parked puts.
    async fn delete(&mut self, key: String) {
        if let Some(k) = self.parked.iter().position(|p| p.key == key) {
            let old = self.parked.remove(k);
            self.parked_bytes -= old.body.len();
            self.metrics.parked.dec();
        }
        if self.losses.forget(&key) {
            self.metrics.missing.dec();
        }
        if self.down {
            self.park_delete(key);
            return;
        }
        let retry = &self.options.retry;
        if let Err(error) = delete_with_retry(&*self.storage, &key, retry, &self.metrics).await {
            if error.is_retryable() {
                self.down = true;
                tracing::warn!(%key, %error, "the store is not answering; puts and deletes are parked until it answers again");
            } else {
                tracing::warn!(%key, %error, "cannot delete an expired object");
            }
            self.park_delete(key);
        }
    }

    async fn sweep(&mut self, prefix: &str, doomed: super::SweepFilter) {
        let keys = match self.storage.list(prefix).await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(%prefix, %error, "cannot list what a stopped writer left; left to the bucket's lifecycle rule");
                return;
            }
        };
        let doomed: Vec<String> = keys.into_iter().filter(|k| doomed(k)).collect();
        if !doomed.is_empty() {
            tracing::info!(%prefix, objects = doomed.len(), "deleting what a stopped writer left behind");
        }
        for key in doomed {
            self.delete(key).await;
        }
    }

    fn park_delete(&mut self, key: String) {
        if self.parked_deletes.len() >= MAX_PARKED_DELETES {
            tracing::error!(%key, limit = MAX_PARKED_DELETES, "too many deletes waiting; this object is left to the bucket's lifecycle rule");
            return;
        }
        self.parked_deletes.push(key);
    }

    /// One attempt at every parked put, oldest first, then (while the store
    /// answers) at every parked delete.
    async fn retry_parked(&mut self) {
        let parked = std::mem::take(&mut self.parked);
        self.parked_bytes = 0;
        self.metrics.parked.sub(parked.len() as i64);
        let mut failing = false;
        for put in parked {
            // Once one fails the store is still down: keep the rest for the next round.
            let result = if failing {
                Err(())
            } else {
                self.storage
                    .put(&put.key, put.body.clone(), put.meta.clone())
                    .await
                    .map_err(|error| {
                        tracing::debug!(%error, key = %put.key, "parked put still fails");
                    })
            };
            match result {
                Ok(()) => {
                    if std::mem::take(&mut self.down) {
                        tracing::info!("the store answers again");
                    }
                    self.metrics.recovered();
                    tracing::info!(key = %put.key, "parked put stored");
                    self.stored(&put);
                }
                Err(()) => {
                    failing = true;
                    self.parked_bytes += put.body.len();
                    self.metrics.parked.inc();
                    self.parked.push(put);
                }
            }
        }
        if failing {
            return;
        }
        for key in std::mem::take(&mut self.parked_deletes) {
            match self.storage.delete(&key).await {
                Ok(()) => {
                    self.down = false;
                    self.metrics.deleted(true);
                }
                Err(error) => {
                    tracing::debug!(%error, %key, "parked delete still fails");
                    self.parked_deletes.push(key);
                }
            }
        }
    }
}
