//! The placement request the ingest sends the scheduler when a publisher
//! connects, and its answer.

use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::{Epoch, SourceVideo, WorkerId};

/// NATS request subject the leading scheduler answers.
pub const PLACE_SUBJECT: &str = "livefleet.sched.place";
/// Largest placement request read, in bytes.
pub const MAX_PLACE_REQUEST_BYTES: usize = 4096;

/// "Where does this channel run?", sent when a publisher connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceRequest {
    /// The channel being published.
    pub channel: ChannelName,
    /// The source picture, when the ingest already knows it (costs the
    /// ladder exactly instead of assuming every rendition at 30 fps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceVideo>,
}

/// The scheduler's answer: `{"ok":true,"worker":..,"epoch":..}` or
/// `{"ok":false,"reason":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceReply {
    /// True if the channel has a worker.
    pub ok: bool,
    /// The worker that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerId>,
    /// The assignment epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Epoch>,
    /// Why it was refused (for the publisher's RTMP error and the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PlaceReply {
    /// The channel runs on `worker` under `epoch`.
    pub fn placed(worker: WorkerId, epoch: Epoch) -> PlaceReply {
        PlaceReply {
            ok: true,
            worker: Some(worker),
            epoch: Some(epoch),
            reason: None,
        }
    }

    /// Refused, with the reason.
    pub fn refused(reason: impl Into<String>) -> PlaceReply {
        PlaceReply {
            ok: false,
            worker: None,
            epoch: None,
            reason: Some(reason.into()),
        }
    }
}

/// Subject of drain requests, answered by the leading scheduler.
pub const DRAIN_SUBJECT: &str = "livefleet.sched.drain";

/// Drain (or undrain) a worker: no new channels, and its channels move to
/// other workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    pub worker: WorkerId,
    /// `true`: the worker takes channels again.
    #[serde(default)]
    pub undrain: bool,
}

/// A channel a drain could not move, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotMoved {
    pub channel: ChannelName,
    pub reason: String,
}

/// The outcome of a drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DrainReply {
    pub ok: bool,
    /// Channels moved, with the worker each went to.
    #[serde(default)]
    pub moved: Vec<(ChannelName, WorkerId)>,
    /// Channels that stay (nothing else fits; retried by a later drain).
    #[serde(default)]
    pub failed: Vec<NotMoved>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The request named a worker the leader does not know (no heartbeat,
    /// no channel, not drained).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown_worker: bool,
}
