//! Retrying storage calls with exponential backoff and jitter.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;

use crate::{ObjectMeta, Storage, StorageError, StorageMetrics};

/// How often and how patiently a failed storage call is tried again.
///
/// Attempt `n` (counting from 1) that fails with a retryable error
/// ([`StorageError::is_retryable`]) is followed by a pause drawn uniformly
/// from `[d/2, d]` where `d = min(max_backoff, initial_backoff * 2^(n-1))`,
/// until `max_attempts` attempts have been made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// The pause after the first failed attempt, before jitter.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts, before jitter.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, pauses of 100 ms doubling up to 2 s: about 3 s in all
    /// before a put is given up, about the length of one segment.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `attempt` (counting from 1), with jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos))
    }
}

/// Runs `op` until it succeeds, fails with an error that is not retryable,
/// or `policy.max_attempts` attempts have failed. `observe` sees every
/// attempt's outcome, its duration, and whether another attempt follows.
async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    operation: &str,
    key: &str,
    mut observe: impl FnMut(&Result<T, StorageError>, Duration, bool),
    mut op: F,
) -> Result<T, StorageError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let result = op().await;
        let will_retry = matches!(&result, Err(e) if e.is_retryable() && attempt < max_attempts);
        observe(&result, started.elapsed(), will_retry);
        match result {
            Ok(value) => return Ok(value),
            Err(error) if will_retry => {
                let pause = policy.backoff(attempt);
                tracing::warn!(
                    %error, operation, key, attempt, max_attempts,
                    pause_ms = pause.as_millis() as u64,
                    "storage call failed; trying again"
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            Err(error) => {
                tracing::error!(%error, operation, key, attempt, "storage call failed; giving up");
                return Err(error);
            }
        }
    }
}

/// Puts one object with retries, counting attempts in `metrics`.
pub(crate) async fn put_with_retry(
    storage: &dyn Storage,
    key: &str,
    body: &Bytes,
    meta: &ObjectMeta,
    policy: &RetryPolicy,
    metrics: &StorageMetrics,
) -> Result<(), StorageError> {
    with_retries(
        policy,
        "put",
        key,
        |result, elapsed, will_retry| {
            metrics.put_seconds.observe(elapsed.as_secs_f64());
            match result {
                Ok(()) => metrics.ok(),
                Err(_) if will_retry => metrics.retry(),
                Err(_) => metrics.failed(),
            }
        },
        || storage.put(key, body.clone(), meta.clone()),
    )
    .await
}

/// Deletes `key`, retrying according to `policy`; counted in
/// `livefleet_storage_deletes_total`.
pub(crate) async fn delete_with_retry(
    storage: &dyn Storage,
    key: &str,
    policy: &RetryPolicy,
    metrics: &StorageMetrics,
) -> Result<(), StorageError> {
    let result = with_retries(policy, "delete", key, |_, _, _| {}, || storage.delete(key)).await;
    metrics.deleted(result.is_ok());
    result
}

/// A [`Storage`] that retries the calls of another one according to a
/// [`RetryPolicy`]. Puts are counted in [`StorageMetrics`].
///
/// Use it where objects are written directly (deleting expired segments,
/// writing an archive); the [`crate::StorageWriter`] retries on its own.
#[derive(Debug)]
pub struct RetryingStorage<S> {
    inner: S,
    policy: RetryPolicy,
    metrics: StorageMetrics,
}

impl<S: Storage> RetryingStorage<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, policy: RetryPolicy, metrics: StorageMetrics) -> Self {
        RetryingStorage {
            inner,
            policy,
            metrics,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: Storage> Storage for RetryingStorage<S> {
    async fn put(&self, key: &str, body: Bytes, meta: ObjectMeta) -> Result<(), StorageError> {
        put_with_retry(&self.inner, key, &body, &meta, &self.policy, &self.metrics).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        with_retries(
            &self.policy,
            "get",
            key,
            |_, _, _| {},
            || self.inner.get(key),
        )
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        with_retries(
            &self.policy,
            "delete",
            key,
            |_, _, _| {},
            || self.inner.delete(key),
        )
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        with_retries(
            &self.policy,
            "list",
            prefix,
            |_, _, _| {},
            || self.inner.list(prefix),
        )
        .await
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        with_retries(
            &self.policy,
            "list",
            prefix,
            |_, _, _| {},
            || self.inner.folders(prefix),
        )
        .await
    }

    async fn copy(&self, from: &str, to: &str, meta: ObjectMeta) -> Result<bool, StorageError> {
        with_retries(
            &self.policy,
            "copy",
            to,
            |_, _, _| {},
            || self.inner.copy(from, to, meta.clone()),
        )
        .await
    }

    fn identity(&self) -> Option<String> {
        self.inner.identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let pause = policy.backoff(attempt);
            let full = Duration::from_millis(full);
            assert!(
                pause >= full / 2 && pause <= full,
                "attempt {attempt}: {pause:?}"
            );
        }
        let zero = RetryPolicy {
            initial_backoff: Duration::ZERO,
            ..policy
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }
}
