//! Whether a channel is on the air now, for the channel views and
//! `livefleet channel list`: its last broadcast event says started, and, on
//! a fleet, a worker holds its assignment (a released one means the
//! broadcast is over, whatever a worker that died said last). A channel no
//! scheduler ever placed (a standalone worker, `dev`) goes by its events
//! alone.

use async_nats::jetstream;
use livefleet_base::ChannelName;
use livefleet_bus::{last_broadcast_event, BroadcastState};
use livefleet_fleet::Assignments;
use serde::{Deserialize, Serialize};

use crate::admin::{AdminState, ChannelView};

/// A channel's broadcast on the air.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveView {
    /// The broadcast: its start, Unix ms (as in the webhooks' `live.broadcast`).
    pub broadcast_started_unix_ms: i64,
    /// The worker running it, on a fleet; `None` for a channel no
    /// scheduler placed (a standalone worker, `dev`).
    pub node: Option<String>,
}

/// Why a channel's state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OnAirError {
    #[error("its broadcast events: {0}")]
    Events(#[from] livefleet_bus::BusError),
    #[error("its assignment: {0}")]
    Assignment(#[from] livefleet_fleet::FleetError),
}

/// `channel`'s broadcast on the air, if any.
pub async fn on_air(
    js: &jetstream::Context,
    assignments: &Assignments,
    channel: &ChannelName,
) -> Result<Option<LiveView>, OnAirError> {
    let Some(event) = last_broadcast_event(js, channel).await? else {
        return Ok(None);
    };
    if event.state != BroadcastState::Started {
        return Ok(None);
    }
    let node = match assignments.get(channel).await? {
        Some(a) => match a.worker {
            Some(w) => Some(w.to_string()),
            None => return Ok(None),
        },
        None => None,
    };
    Ok(Some(LiveView {
        broadcast_started_unix_ms: event.broadcast,
        node,
    }))
}

/// `channel`'s broadcast on the air, if any. A bus that does not answer
/// reads as off the air, with a log line.
pub(crate) async fn live(state: &AdminState, channel: &ChannelName) -> Option<LiveView> {
    let js = jetstream::new(state.client.clone());
    on_air(&js, &state.assignments, channel)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%channel, %error, "admin API: whether the channel is on the air is unknown");
            None
        })
}

/// Fills in `live` of every view, the channels asked at once.
pub(crate) async fn fill(state: &AdminState, views: &mut [ChannelView]) {
    let asked = views.iter().map(|v| async {
        match ChannelName::new(&v.name) {
            Ok(name) => live(state, &name).await,
            Err(_) => None,
        }
    });
    let answers = futures::future::join_all(asked).await;
    for (v, live) in views.iter_mut().zip(answers) {
        v.live = live;
    }
}
