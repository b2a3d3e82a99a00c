//! The index of archived broadcasts: one record per broadcast in the KV
//! bucket [`BROADCASTS_BUCKET`], written by the worker that archives it and
//! read by the admin API (`GET /v1/channels/{name}/broadcasts`).
//!
//! ```text
//! worker (archive) --put--> KV livefleet_broadcasts (<channel>.<broadcast>) --list--> admin API
//! ```
//!
//! The objects themselves are in the store under [`ArchivedBroadcast::prefix`];
//! the record says where, how long, and whether the copy is complete. It is
//! also the archive's lease: the node making the copy (or holding the
//! deletion of the live copy) is its `owner` and rewrites it only at the
//! revision it last wrote ([`BroadcastIndex::update`]), so a node that takes
//! over an orphaned archive fences the one it believed dead.

use async_nats::jetstream::kv;
use futures::StreamExt;
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::BusError;

/// The KV bucket of archived broadcasts.
pub const BROADCASTS_BUCKET: &str = "livefleet_broadcasts";
/// The KV bucket of the archives still open (copying, or a deletion of the
/// live copy pending): one empty value per record key, so a sweep for
/// orphaned work reads a handful of keys, not every broadcast ever made.
pub const OPEN_ARCHIVES_BUCKET: &str = "livefleet_archives_open";
/// Revisions kept per record (archiving, heartbeats, complete or failed, live deleted).
const HISTORY: i64 = 3;
/// Age at which an open-archive mark without a record is dropped.
const STALE_MARK_SECONDS: i64 = 60;
/// Longest broadcast id accepted from a record key.
const MAX_ID: usize = 64;

/// How far a broadcast's archive has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveState {
    /// The copy is being made; the VOD master playlist is not there yet.
    Archiving,
    /// Every object is copied and the VOD manifests are stored.
    Complete,
    /// The copy could not be finished (see `error`); no VOD master was stored.
    Failed,
}

/// One broadcast of a channel and its VOD copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedBroadcast {
    pub channel: ChannelName,
    /// `<UTC start, YYYYMMDDTHHMMSSZ>-<first segment number>`: unique within a
    /// channel (segment numbers never repeat) and sorted by time.
    pub id: String,
    /// Wall clock of the first segment, Unix ms.
    pub started_ms: i64,
    /// When the broadcast ended, Unix ms.
    pub ended_ms: i64,
    /// Media seconds listed in the VOD.
    pub duration_seconds: f64,
    /// Media segments of the first video rendition.
    pub segments: u64,
    /// Segments the store never got, marked as gaps (`EXT-X-GAP`) in the VOD.
    pub gaps: u64,
    /// Where the VOD is in the store: `vod/<channel>/<id>/`.
    pub prefix: String,
    pub state: ArchiveState,
    /// Why the archive failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Last change, Unix ms; while archiving, the owner's heartbeat.
    pub updated_ms: i64,
    /// The node making the copy, or holding the deletion of the live copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The store the objects are in (the owner's `Storage::identity`): only
    /// a node on the same store can take the archive over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// When the live copy is to be deleted (Unix ms); `None`: it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_live_at_ms: Option<i64>,
    /// When the live copy was deleted (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_deleted_ms: Option<i64>,
    /// When the record was rebuilt from the VOD in the store, the bus
    /// having lost the one written at the end (Unix ms). Such a record is
    /// no node's lease, and its `ended_ms` is its start plus its duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_ms: Option<i64>,
    /// Whether the VOD has a storyboard (`storyboard.vtt`, thumbnail tiles
    /// for scrubbing). Records written before storyboards existed have none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub storyboard: bool,
}

impl ArchivedBroadcast {
    /// A broadcast id from its start and first segment number.
    pub fn make_id(started_ms: i64, first_number: u64) -> String {
        let iso = livefleet_base::clock::iso8601(started_ms);
        // 2026-12-01T23:30:00.000Z -> 20261201T233000Z
        let compact: String = iso
            .chars()
            .take(19)
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect();
        format!("{compact}Z-{first_number}")
    }

    /// Whether `id` has the shape [`ArchivedBroadcast::make_id`] gives (and is
    /// safe in a key and a path).
    pub fn is_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= MAX_ID
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }

    /// The first segment number in the id (`...Z-42` -> 42).
    pub fn first_number(&self) -> Option<u64> {
        self.id.rsplit_once('-')?.1.parse().ok()
    }

    /// Whether work remains: the copy, or the deletion of the live copy.
    pub fn is_open(&self) -> bool {
        match self.state {
            ArchiveState::Archiving => true,
            ArchiveState::Complete => {
                self.delete_live_at_ms.is_some() && self.live_deleted_ms.is_none()
            }
            ArchiveState::Failed => false,
        }
    }

    fn key(&self) -> String {
        record_key(&self.channel, &self.id)
    }
}

/// The archived broadcasts in JetStream KV.
#[derive(Clone)]
pub struct BroadcastIndex {
    kv: kv::Store,
    /// The keys of the records whose [`ArchivedBroadcast::is_open`] holds.
    open: kv::Store,
}

impl BroadcastIndex {
    /// Opens the buckets, creating them if missing.
    pub async fn open(js: &async_nats::jetstream::Context) -> Result<Self, BusError> {
        let bucket = |name: &'static str, description: &'static str, history| async move {
            crate::open_kv_bucket(js, name, description, history)
                .await
                .map_err(|e| BusError::nats(format!("cannot open the KV bucket {name}"), e))
        };
        Ok(Self {
            kv: bucket(
                BROADCASTS_BUCKET,
                "livefleet archived broadcasts: one record per broadcast",
                HISTORY,
            )
            .await?,
            open: bucket(
                OPEN_ARCHIVES_BUCKET,
                "livefleet archives with work left: the keys of their records",
                1,
            )
            .await?,
        })
    }

    /// Stores (or replaces) a broadcast's record; its new revision. An open
    /// record is marked open first, so no open record goes unmarked.
    pub async fn put(&self, record: &ArchivedBroadcast) -> Result<u64, BusError> {
        let what = || format!("cannot store the record of broadcast {}", record.key());
        if record.is_open() {
            self.open
                .put(record.key(), bytes::Bytes::new())
                .await
                .map_err(|e| BusError::nats(what(), e))?;
        }
        let body = serde_json::to_vec(record).unwrap_or_default();
        let revision = self
            .kv
            .put(record.key(), body.into())
            .await
            .map_err(|e| BusError::nats(what(), e))?;
        self.closed(record).await;
        Ok(revision)
    }

    /// Drops the open mark of a record with no work left (a mark that
    /// stays is dropped by the next [`BroadcastIndex::unfinished`]).
    async fn closed(&self, record: &ArchivedBroadcast) {
        if !record.is_open() {
            if let Err(e) = self.open.purge(record.key()).await {
                tracing::debug!(kv_key = record.key(), error = %e, "cannot drop the open-archive mark");
            }
        }
    }

    /// Stores a record only where the broadcast has none (a record rebuilt
    /// from the store never replaces one a node wrote): whether it was stored.
    pub async fn create(&self, record: &ArchivedBroadcast) -> Result<bool, BusError> {
        let body = serde_json::to_vec(record).unwrap_or_default();
        match self.kv.create(record.key(), body.into()).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(BusError::nats(
                format!("cannot store the record of broadcast {}", record.key()),
                e,
            )),
        }
    }

    /// The keys of every record (any state), from one listing: what
    /// [`record_key`] gives for a channel's broadcast.
    pub async fn recorded(&self) -> Result<std::collections::HashSet<String>, BusError> {
        let what = "cannot list the archived broadcasts";
        let mut keys = self.kv.keys().await.map_err(|e| BusError::nats(what, e))?;
        let mut found = std::collections::HashSet::new();
        while let Some(k) = keys.next().await {
            found.insert(k.map_err(|e| BusError::nats(what, e))?);
        }
        Ok(found)
    }

    /// Replaces the record if it is still at `revision`: `Ok(Some(new
    /// revision))`, or `Ok(None)` when another node wrote it since (it holds
    /// the archive now).
    pub async fn update(
        &self,
        record: &ArchivedBroadcast,
        revision: u64,
    ) -> Result<Option<u64>, BusError> {
        let body = serde_json::to_vec(record).unwrap_or_default();
        match self.kv.update(record.key(), body.into(), revision).await {
            Ok(r) => {
                self.closed(record).await;
                Ok(Some(r))
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(BusError::nats(
                format!("cannot update the record of broadcast {}", record.key()),
                e,
            )),
        }
    }

    /// One record and its revision, `None` if there is none (or it is unreadable).
    pub async fn get(
        &self,
        channel: &ChannelName,
        id: &str,
    ) -> Result<Option<(ArchivedBroadcast, u64)>, BusError> {
        let key = record_key(channel, id);
        let entry =
            self.kv.entry(&key).await.map_err(|e| {
                BusError::nats(format!("cannot read the record of broadcast {key}"), e)
            })?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .and_then(|e| decode(&key, &e.value).map(|r| (r, e.revision))))
    }

    /// The records with work left ([`ArchivedBroadcast::is_open`]), with
    /// their revisions: what a sweep for orphaned archives looks at. Marks of
    /// records that are done (or gone) are dropped on the way.
    pub async fn unfinished(&self) -> Result<Vec<(ArchivedBroadcast, u64)>, BusError> {
        let what = "cannot list the open archives";
        let mut keys = self
            .open
            .keys()
            .await
            .map_err(|e| BusError::nats(what, e))?;
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            found.push(key.map_err(|e| BusError::nats(what, e))?);
        }
        let mut records = Vec::with_capacity(found.len());
        for key in found {
            let entry = self
                .kv
                .entry(&key)
                .await
                .map_err(|e| BusError::nats(what, e))?;
            let record = entry
                .filter(|e| e.operation == kv::Operation::Put)
                .and_then(|e| decode(&key, &e.value).map(|r| (r, e.revision)));
            match record {
                Some((r, revision)) if r.is_open() => records.push((r, revision)),
                Some((r, _)) => self.closed(&r).await,
                // A mark is made just before its record: only an old one is stale.
                None => self.drop_stale_mark(&key).await,
            }
        }
        Ok(records)
    }

    /// Drops the mark `key` if it has no record a minute after it was made
    /// (a node that stopped between the two writes).
    async fn drop_stale_mark(&self, key: &str) {
        let Ok(Some(mark)) = self.open.entry(key).await else {
            return;
        };
        let age = livefleet_base::now_unix_ms() / 1000 - mark.created.unix_timestamp();
        if age > STALE_MARK_SECONDS {
            if let Err(e) = self.open.purge(key).await {
                tracing::debug!(kv_key = key, error = %e, "cannot drop the open-archive mark");
            }
        }
    }

    /// A channel's broadcasts, newest first. Unreadable records are skipped
    /// with a log line.
    pub async fn list(&self, channel: &ChannelName) -> Result<Vec<ArchivedBroadcast>, BusError> {
        let what = "cannot list the archived broadcasts";
        let mut keys = self.kv.keys().await.map_err(|e| BusError::nats(what, e))?;
        let prefix = format!("{channel}.");
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| BusError::nats(what, e))?;
            if let Some(id) = key.strip_prefix(&prefix) {
                if ArchivedBroadcast::is_id(id) {
                    ids.push(key.clone());
                }
            }
        }
        let mut records = Vec::with_capacity(ids.len());
        for key in ids {
            let value = self
                .kv
                .get(&key)
                .await
                .map_err(|e| BusError::nats(what, e))?;
            let Some(value) = value else { continue };
            if let Some(r) = decode(&key, &value) {
                records.push(r);
            }
        }
        records.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(b.id.cmp(&a.id)));
        Ok(records)
    }
}

/// The KV key of a channel's broadcast.
pub fn record_key(channel: &ChannelName, id: &str) -> String {
    format!("{channel}.{id}")
}

/// The record under `key`, if it reads and belongs there (logged when not).
fn decode(key: &str, value: &[u8]) -> Option<ArchivedBroadcast> {
    match serde_json::from_slice::<ArchivedBroadcast>(value) {
        Ok(r) if r.key() == key => Some(r),
        Ok(_) => {
            tracing::warn!(kv_key = key, "broadcast record names another channel or id");
            None
        }
        Err(e) => {
            tracing::warn!(kv_key = key, error = %e, "unreadable broadcast record");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_compact_times_with_the_first_number() {
        // 2026-12-01T23:30:00Z
        let id = ArchivedBroadcast::make_id(1_796_167_800_000, 42);
        assert_eq!(id, "20261201T233000Z-42");
        assert!(ArchivedBroadcast::is_id(&id));
        let record = ArchivedBroadcast {
            channel: ChannelName::new("c").unwrap(),
            id,
            started_ms: 0,
            ended_ms: 0,
            duration_seconds: 0.0,
            segments: 0,
            gaps: 0,
            prefix: String::new(),
            state: ArchiveState::Archiving,
            error: None,
            updated_ms: 0,
            owner: None,
            store: None,
            delete_live_at_ms: None,
            live_deleted_ms: None,
            rebuilt_ms: None,
            storyboard: false,
        };
        assert_eq!(record.first_number(), Some(42));
        for bad in ["", "a.b", "../x", "a/b", &"x".repeat(65)] {
            assert!(!ArchivedBroadcast::is_id(bad), "{bad}");
        }
    }
}
