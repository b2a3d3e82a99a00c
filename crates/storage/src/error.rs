//! Errors of the storage layer.

use std::path::PathBuf;

/// A failed storage operation, with the key (and path, for the local
/// backend) that an operator needs to find the cause.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key breaks the key rules (see [`crate::validate_key`]); nothing was
    /// read or written. Retrying does not help.
    #[error("bad object key {key:?}: {reason}")]
    BadKey {
        /// The refused key, as given.
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// The local filesystem refused an operation.
    #[error("storage I/O failed for key {key:?} at {}: {source}", path.display())]
    Io {
        /// The object key (empty for operations on the root itself).
        key: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A remote backend refused or failed a request.
    #[error("storage backend failed for key {key:?}: {message}")]
    Backend {
        /// The object key.
        key: String,
        /// What the backend said.
        message: String,
        /// Whether trying again may succeed (throttling, timeouts, 5xx).
        retryable: bool,
    },
}

impl StorageError {
    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StorageError::BadKey { .. } => false,
            // A full disk, an I/O error or permissions taken away can all be
            // mended while the stream runs, so they are tried again.
            StorageError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::IsADirectory
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::InvalidInput
            ),
            StorageError::Backend { retryable, .. } => *retryable,
        }
    }

    pub(crate) fn io(key: &str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            key: key.to_owned(),
            path: path.into(),
            source,
        }
    }
}
