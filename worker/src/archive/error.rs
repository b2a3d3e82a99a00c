//! Why a broadcast could not be archived. Its text goes into the record's
//! `error` (the admin API shows it) and the log line.

use livefleet_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the final manifests have no master.m3u8")]
    NoMaster,
    #[error("{path}: named by the master, not among the final manifests")]
    NotFinal { path: String },
    #[error("{from}: {uri:?} is not a path inside the presentation")]
    Outside { from: String, uri: String },
    #[error("{key} is named by the final playlists but not in the store after {seconds}s")]
    NeverStored { key: String, seconds: u64 },
    #[error("{key} is not in the store")]
    NotStored { key: String },
    #[error("{doing}: {source}")]
    Storage { doing: String, source: StorageError },
    #[error("the live manifests are no longer this broadcast's (first segment {first:?}, ended: {ended}): the channel broadcast again before the archive was taken over")]
    NotThisBroadcast { first: Option<u64>, ended: bool },
}

impl ArchiveError {
    pub(super) fn storage(doing: String) -> impl FnOnce(StorageError) -> Self {
        move |source| Self::Storage { doing, source }
    }
}
