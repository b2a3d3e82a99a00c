//! The broadcast records in JetStream KV: where the last worker to run a
//! channel left its broadcast, saved fenced by assignment epoch, read by the
//! next worker (failover).

use async_nats::jetstream::{self, kv};
use livefleet_base::ChannelName;
use livefleet_fleet::Epoch;
use livefleet_packager::PackagerState;
use serde::{Deserialize, Serialize};

/// KV bucket of per-channel broadcast state (packager state for failover),
/// key = channel. Apart from the archive's index (`livefleet_broadcasts`):
/// this one is rewritten at every segment and needs no history.
pub const BROADCAST_STATE_BUCKET: &str = "livefleet_broadcast_state";
/// Largest broadcast record read back.
const MAX_RECORD_BYTES: usize = 8 << 20;

/// A channel's broadcast as the last worker to run it left it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastRecord {
    pub channel: ChannelName,
    pub worker: String,
    pub epoch: Epoch,
    pub state: PackagerState,
    /// Media end of the last listed segment (90 kHz): where the next worker's timeline continues.
    pub timeline_end_90k: i64,
    pub updated_unix_ms: i64,
}

impl BroadcastRecord {
    /// `worker`'s record of `channel` under `epoch` now: `state`, and the
    /// timeline end the next worker continues from.
    pub(crate) fn now(
        channel: ChannelName,
        worker: String,
        epoch: Epoch,
        state: &PackagerState,
    ) -> Self {
        Self {
            channel,
            worker,
            epoch,
            state: state.clone(),
            timeline_end_90k: state.end_time(90_000).unwrap_or(0),
            updated_unix_ms: livefleet_base::now_unix_ms(),
        }
    }
}

/// Why the broadcast state could not be opened or read (a record that
/// cannot be used is not an error: the channel starts afresh).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Open(#[from] livefleet_fleet::FleetError),
    #[error("reading the broadcast state of {channel}: {source}")]
    Read {
        channel: ChannelName,
        source: kv::EntryError,
    },
}

/// The broadcast records in JetStream KV.
#[derive(Clone)]
pub struct BroadcastStore {
    kv: kv::Store,
}

impl BroadcastStore {
    pub async fn open(js: &jetstream::Context) -> Result<Self, StateError> {
        let kv = livefleet_fleet::open_bucket(
            js,
            BROADCAST_STATE_BUCKET,
            "livefleet broadcast state for failover",
            1,
        )
        .await?;
        Ok(Self { kv })
    }

    /// The record of `channel`, if any (an unreadable one is logged and ignored).
    pub async fn load(&self, channel: &ChannelName) -> Result<Option<BroadcastRecord>, StateError> {
        let value = self
            .kv
            .get(channel.as_str())
            .await
            .map_err(|source| StateError::Read {
                channel: channel.clone(),
                source,
            })?;
        let Some(bytes) = value else { return Ok(None) };
        if bytes.len() > MAX_RECORD_BYTES {
            tracing::warn!(%channel, bytes = bytes.len(), "broadcast state too large; starting the channel afresh");
            return Ok(None);
        }
        match serde_json::from_slice::<BroadcastRecord>(&bytes) {
            Ok(r) if r.channel == *channel => match r.state.check() {
                Ok(()) => Ok(Some(r)),
                Err(e) => {
                    tracing::warn!(%channel, error = %e, "broadcast state no packager could have written; starting the channel afresh");
                    Ok(None)
                }
            },
            Ok(r) => {
                tracing::warn!(%channel, stored = %r.channel, "broadcast state names another channel; ignored");
                Ok(None)
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, "unreadable broadcast state; starting the channel afresh");
                Ok(None)
            }
        }
    }

    /// Saves `record` unless a newer epoch already wrote one (then `Err(Fenced)`).
    pub(crate) async fn save(&self, record: &BroadcastRecord) -> Result<(), SaveError> {
        for _ in 0..SAVE_ATTEMPTS {
            let entry = self
                .kv
                .entry(record.channel.as_str())
                .await
                .map_err(SaveError::Read)?;
            let revision = match &entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    if let Ok(stored) = serde_json::from_slice::<BroadcastRecord>(&e.value) {
                        if stored.epoch > record.epoch {
                            return Err(SaveError::Fenced(FenceReason::NewerState(stored.epoch)));
                        }
                    }
                    e.revision
                }
                Some(e) => e.revision,
                None => 0,
            };
            let bytes = serde_json::to_vec(record).map_err(SaveError::Encode)?;
            let result = if revision == 0 {
                self.kv
                    .create(record.channel.as_str(), bytes.into())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                self.kv
                    .update(record.channel.as_str(), bytes.into(), revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(channel = %record.channel, error = %e, "broadcast state write raced; retrying")
                }
            }
        }
        Err(SaveError::Raced {
            attempts: SAVE_ATTEMPTS,
        })
    }
}

/// Conditional writes of a record tried before giving up on a race.
const SAVE_ATTEMPTS: u32 = 5;

/// Why a fleet worker no longer holds its channel: it must stop without
/// touching the manifests, which belong to the new holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FenceReason {
    #[error("the epoch is no longer ours")]
    EpochLost,
    #[error("the assignment moved to another epoch")]
    AssignmentMoved,
    #[error("epoch {0} wrote the broadcast state")]
    NewerState(Epoch),
}

/// Why the broadcast state was not saved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaveError {
    #[error("fenced: {0}")]
    Fenced(FenceReason),
    #[error("reading the stored broadcast state: {0}")]
    Read(kv::EntryError),
    #[error("encoding the broadcast state: {0}")]
    Encode(serde_json::Error),
    #[error("the broadcast state kept changing under us ({attempts} conditional writes raced)")]
    Raced { attempts: u32 },
    #[error("storing the segments before the state: {0}")]
    Flush(livefleet_storage::WriterError),
    #[error("checking the assignment: {0}")]
    Assignment(livefleet_fleet::FleetError),
}
