//! The one error type of the bus layer.

use std::path::PathBuf;
use std::time::Duration;

use livefleet_base::ChannelName;

/// A boxed error from the NATS client, kept as the source of a [`BusError`].
pub type NatsError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong on the bus, with the context an operator needs.
///
/// No variant ever carries a stream key.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The `nats-server` binary is missing.
    #[error("nats-server not found on PATH; install it (apt-get install nats-server) or pass --nats-url")]
    NatsServerNotFound,
    /// A file or process operation around the child `nats-server` failed.
    #[error("{what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The child `nats-server` exited before it accepted connections.
    #[error("nats-server exited during start-up ({status}); last log lines:\n{log}")]
    NatsServerExited { status: String, log: String },
    /// The child `nats-server` did not accept connections in time.
    #[error(
        "nats-server did not accept connections on {url} within {waited:?}; last log lines:\n{log}"
    )]
    NatsServerNotReady {
        url: String,
        waited: Duration,
        log: String,
    },
    /// Connecting to NATS failed in a way that retrying will not fix
    /// (bad URL, refused credentials).
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: NatsError,
    },
    /// The NATS configuration cannot be used (a credentials file that cannot be read).
    #[error("{0}")]
    Config(String),
    /// The server answers but JetStream is off.
    #[error(
        "JetStream is not available on the NATS server ({source}); start nats-server with -js"
    )]
    JetStreamUnavailable {
        #[source]
        source: NatsError,
    },
    /// A JetStream or core NATS operation failed.
    #[error("{what}: {source}")]
    Nats {
        what: String,
        #[source]
        source: NatsError,
    },
    /// `ChannelRegistry::create` for a name that already exists.
    #[error("channel {0} already exists")]
    AlreadyExists(ChannelName),
    /// `ChannelRegistry::create` with a stream key that another channel uses.
    #[error("the stream key given for channel {0} is already used by another channel; generate a new one")]
    StreamKeyInUse(ChannelName),
    /// No channel of that name.
    #[error("no channel {0}")]
    NotFound(ChannelName),
    /// The record changed while it was being updated; read it again and retry.
    #[error("channel {0} changed while its stream key was rotated; try again")]
    Changed(ChannelName),
    /// A stream key that does not meet the rules. The key itself is not shown.
    #[error("invalid stream key: {0}")]
    InvalidStreamKey(&'static str),
    /// A record could not be serialized.
    #[error("cannot encode the record of channel {channel}: {source}")]
    Encode {
        channel: ChannelName,
        #[source]
        source: serde_json::Error,
    },
}

impl BusError {
    pub(crate) fn nats(what: impl Into<String>, source: impl Into<NatsError>) -> Self {
        BusError::Nats {
            what: what.into(),
            source: source.into(),
        }
    }
}
