//! Whether a channel is on the air now, for the channel views: its last
//! broadcast event says started, and, on a fleet, a worker holds its
//! assignment (a released one means the broadcast is over, whatever a
//! worker that died said last). A channel no scheduler ever placed (a
//! standalone worker, `dev`) goes by its events alone.

use livefleet_base::ChannelName;
use livefleet_bus::{last_broadcast_event, BroadcastState};
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

/// `channel`'s broadcast on the air, if any. A bus that does not answer
/// reads as off the air, with a log line.
pub(crate) async fn live(state: &AdminState, channel: &ChannelName) -> Option<LiveView> {
    let js = async_nats::jetstream::new(state.client.clone());
    let event = match last_broadcast_event(&js, channel).await {
        Ok(event) => event?,
        Err(error) => {
            tracing::warn!(%channel, %error, "admin API: the channel's broadcast state is unknown");
            return None;
        }
    };
    if event.state != BroadcastState::Started {
        return None;
    }
    let node = match state.assignments.get(channel).await {
        Ok(Some(a)) => Some(a.worker?.to_string()),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%channel, %error, "admin API: the channel's assignment is unknown");
            return None;
        }
    };
    Some(LiveView {
        broadcast_started_unix_ms: event.broadcast,
        node,
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
