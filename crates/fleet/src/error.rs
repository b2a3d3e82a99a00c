//! The one error type of the fleet crate.

use livefleet_base::ChannelName;

/// A boxed error from the NATS client, kept as the source of a [`FleetError`].
pub type NatsError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the fleet layer, with the context an
/// operator needs (channel, worker, epoch, bucket).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A heartbeat (or another message from the network) that cannot be used.
    #[error("bad heartbeat: {0}")]
    BadHeartbeat(String),
    /// A worker id that breaks the naming rules.
    #[error("invalid worker id {id:?}: {why}")]
    InvalidWorkerId { id: String, why: &'static str },
    /// `assign` for a channel that already has a worker.
    #[error("channel {channel} is already assigned to worker {worker} under epoch {epoch}")]
    AlreadyAssigned {
        channel: ChannelName,
        worker: String,
        epoch: u64,
    },
    /// The caller's epoch is not the channel's current one: someone else
    /// changed the assignment since it was read.
    #[error("channel {channel}: epoch {given} is stale, the assignment is at epoch {current}")]
    StaleEpoch {
        channel: ChannelName,
        given: u64,
        current: u64,
    },
    /// `reassign` or `release` of a channel that has no assignment at all.
    #[error("channel {0} has no assignment")]
    NotAssigned(ChannelName),
    /// The compare-and-set lost against a concurrent writer; read again and retry.
    #[error("channel {channel}: the assignment changed concurrently (revision {revision} is no longer the latest); read it again")]
    Conflict { channel: ChannelName, revision: u64 },
    /// A JetStream or core NATS operation failed.
    #[error("{what}: {source}")]
    Nats {
        what: String,
        #[source]
        source: NatsError,
    },
    /// A value could not be serialized.
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

impl FleetError {
    pub(crate) fn nats(what: impl Into<String>, source: impl Into<NatsError>) -> Self {
        FleetError::Nats {
            what: what.into(),
            source: source.into(),
        }
    }
}
