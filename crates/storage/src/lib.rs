//! Where segments and manifests go.
//!
//! The packager produces objects (init segments, media segments, HLS
//! playlists, DASH manifests, chat replay files) named by slash-separated
//! keys such as `live/<channel>/<rendition>/42.m4s`. This crate moves them to
//! a store behind one async trait, [`Storage`]:
//!
//! ```text
//! worker/packager --Put--> StorageWriter (ordered queue, retries) --> Storage
//!                                                                     |-- LocalDir (embedded default; served by the origin)
//!                                                                     '-- S3Storage (any S3-compatible store)
//! ```
//!
//! - [`keys`] holds the one mapping from a key to its content type and cache
//!   class, shared by every backend and by the HTTP origin, and the key rules
//!   ([`validate_key`]) that keep a key inside the store.
//! - [`LocalDir`] writes atomically (temporary file, then rename), so a reader
//!   never sees a half-written segment or playlist.
//! - [`StorageWriter`] puts objects one after another on a background task
//!   with a bounded queue, so encoding never waits on a slow store and a
//!   playlist is never written before the segment it names.
//! - [`Storage::copy`] copies inside the store (the VOD archive).
//! - [`RetryingStorage`] retries failed calls with exponential backoff and
//!   jitter, for callers that write directly.

mod error;
pub mod keys;
mod local;
mod location;
mod metrics;
mod retry;
pub mod s3;
mod writer;

use async_trait::async_trait;
use bytes::Bytes;

pub use error::StorageError;
pub use keys::{cache_class_for_key, content_type_for_key, validate_key, CacheClass, ObjectMeta};
pub use local::{LocalDir, TEMP_PREFIX};
pub use location::{Location, LocationError};
pub use metrics::StorageMetrics;
pub use retry::{RetryPolicy, RetryingStorage};
pub use s3::{S3Config, S3Storage};
pub use writer::{MissingObjects, Put, StorageWriter, SweepFilter, WriterError, WriterOptions};

/// An object store for segments and manifests.
///
/// Keys are slash-separated relative names (see [`validate_key`]); every
/// backend refuses keys that break those rules with [`StorageError::BadKey`].
/// The shape follows object stores such as S3: whole-object writes with a
/// content type and a cache class, reads of whole objects, idempotent
/// deletes, and listing by prefix. A conditional write (for fencing a stale
/// worker out by epoch) will be added as a further method with a default.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Stores `body` under `key`, replacing any previous object. Readers see
    /// either the old object or the new one, never a partial write.
    async fn put(&self, key: &str, body: Bytes, meta: ObjectMeta) -> Result<(), StorageError>;

    /// Reads the object stored under `key`, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError>;

    /// Removes the object under `key`. Removing a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Lists the keys that start with `prefix` (a plain string prefix, as in
    /// S3; `""` lists everything), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// The folders one level under `prefix` (`""` or ending in `/`) that
    /// hold at least one key: their names, without the prefix or a slash,
    /// sorted (`vod/` -> `["a", "b"]` for `vod/a/1/x.m4s` and `vod/b/y`).
    /// S3 answers it with a delimiter listing, which reads one entry per
    /// folder rather than every key beneath; the default lists every key.
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(folders_of(prefix, &self.list(prefix).await?))
    }

    /// Copies the object under `from` to `to`, stored with `meta`; `Ok(false)`
    /// when there is no object under `from`. Backends copy inside the store
    /// where they can (S3 `CopyObject`, a hard link on a local directory),
    /// so the bytes never pass through this process; the default reads and
    /// writes the object.
    async fn copy(&self, from: &str, to: &str, meta: ObjectMeta) -> Result<bool, StorageError> {
        match self.get(from).await? {
            Some(body) => self.put(to, body, meta).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Where this store keeps its objects, as a name two nodes compare to
    /// tell whether they share it (`s3://bucket/prefix` at an endpoint,
    /// `file://host/path`); `None` when it cannot be told. The archive lets
    /// a node take over another's unfinished work only on the same store.
    fn identity(&self) -> Option<String> {
        None
    }
}

#[async_trait]
impl<S: Storage + ?Sized> Storage for std::sync::Arc<S> {
    async fn put(&self, key: &str, body: Bytes, meta: ObjectMeta) -> Result<(), StorageError> {
        (**self).put(key, body, meta).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        (**self).get(key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        (**self).delete(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        (**self).list(prefix).await
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        (**self).folders(prefix).await
    }

    async fn copy(&self, from: &str, to: &str, meta: ObjectMeta) -> Result<bool, StorageError> {
        (**self).copy(from, to, meta).await
    }

    fn identity(&self) -> Option<String> {
        (**self).identity()
    }
}

/// The folder names one level under `prefix` among `keys` (sorted, once each).
pub fn folders_of(prefix: &str, keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix)?.split_once('/'))
        .map(|(folder, _)| folder.to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}
