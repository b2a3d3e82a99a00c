//! The index of archived broadcasts: one record per broadcast in the KV
//! bucket [`BROADCASTS_BUCKET`], written by the worker that archives it and
//! read by the admin API (`GET /v1/channels/{name}/broadcasts`).
//!
//! ```text
//! worker (archive) --put--> KV livefleet_broadcasts (<channel>.<broadcast>) --list--> admin API
//! ```
//!
//! The objects themselves are in the store under [`ArchivedBroadcast::prefix`];
//! the record says where, how long, and whether the copy is complete.

use futures::StreamExt;
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::BusError;

/// The KV bucket of archived broadcasts.
pub const BROADCASTS_BUCKET: &str = "livefleet_broadcasts";
/// A record is rewritten a few times (archiving, then complete or failed).
const HISTORY: i64 = 3;
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
    /// Last change, Unix ms.
    pub updated_ms: i64,
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

    fn key(&self) -> String {
        format!("{}.{}", self.channel, self.id)
    }
}

/// The archived broadcasts in JetStream KV.
#[derive(Clone)]
pub struct BroadcastIndex {
    kv: async_nats::jetstream::kv::Store,
}

impl BroadcastIndex {
    /// Opens the bucket, creating it if missing.
    pub async fn open(js: &async_nats::jetstream::Context) -> Result<Self, BusError> {
        let kv = crate::open_kv_bucket(
            js,
            BROADCASTS_BUCKET,
            "livefleet archived broadcasts: one record per broadcast",
            HISTORY,
        )
        .await
        .map_err(|e| BusError::nats(format!("cannot open the KV bucket {BROADCASTS_BUCKET}"), e))?;
        Ok(Self { kv })
    }

    /// Stores (or replaces) a broadcast's record.
    pub async fn put(&self, record: &ArchivedBroadcast) -> Result<(), BusError> {
        let body = serde_json::to_vec(record).unwrap_or_default();
        self.kv
            .put(record.key(), body.into())
            .await
            .map(|_| ())
            .map_err(|e| {
                BusError::nats(
                    format!("cannot store the record of broadcast {}", record.key()),
                    e,
                )
            })
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
            match serde_json::from_slice::<ArchivedBroadcast>(&value) {
                Ok(r) if r.channel == *channel => records.push(r),
                Ok(_) => tracing::warn!(kv_key = key, "broadcast record names another channel"),
                Err(e) => tracing::warn!(kv_key = key, error = %e, "unreadable broadcast record"),
            }
        }
        records.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(b.id.cmp(&a.id)));
        Ok(records)
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
        for bad in ["", "a.b", "../x", "a/b", &"x".repeat(65)] {
            assert!(!ArchivedBroadcast::is_id(bad), "{bad}");
        }
    }
}
