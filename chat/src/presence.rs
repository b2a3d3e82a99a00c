//! Viewer counts across relays. Every relay publishes its local counts (core
//! NATS, [`PRESENCE_SUBJECT`]) every [`INTERVAL`] and keeps the latest
//! counts of the others; a relay not heard from for three intervals no
//! longer counts. A user connected through two relays counts on each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::hub::Hub;

/// Where relays publish their counts.
pub const PRESENCE_SUBJECT: &str = "livefleet.chatpresence";
/// How often.
pub const INTERVAL: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct Report {
    relay: String,
    /// channel -> [clients, users]
    channels: Counts,
}

/// Clients and users per channel name.
type Counts = HashMap<String, (u64, u64)>;

/// The other relays' counts.
#[derive(Default)]
pub struct Presence {
    /// By relay: when it last reported, and what.
    others: Mutex<HashMap<String, (Instant, Counts)>>,
}

impl Presence {
    /// Clients and users of `channel` on the other relays.
    pub fn others(&self, channel: &ChannelName) -> (u64, u64) {
        let Ok(mut others) = self.others.lock() else {
            return (0, 0);
        };
        others.retain(|_, (at, _)| at.elapsed() < INTERVAL * 3);
        others
            .values()
            .filter_map(|(_, chans)| chans.get(channel.as_str()))
            .fold((0, 0), |(c, u), (c2, u2)| (c + c2, u + u2))
    }

    /// Publishes this relay's counts and listens to the others' until the task is aborted.
    pub async fn run(self: Arc<Self>, nats: async_nats::Client, relay: String, hub: Arc<Hub>) {
        let mut reports = match nats.subscribe(PRESENCE_SUBJECT).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot follow the other relays' viewer counts");
                return;
            }
        };
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let report = Report {
                        relay: relay.clone(),
                        channels: hub.counts().into_iter().map(|(c, n)| (c.to_string(), n)).collect(),
                    };
                    let body = serde_json::to_vec(&report).unwrap_or_default();
                    if let Err(e) = nats.publish(PRESENCE_SUBJECT, body.into()).await {
                        tracing::debug!(error = %e, "viewer counts not published");
                    }
                }
                m = reports.next() => {
                    let Some(m) = m else { return };
                    match serde_json::from_slice::<Report>(&m.payload) {
                        Ok(r) if r.relay != relay => {
                            if let Ok(mut others) = self.others.lock() {
                                others.insert(r.relay, (Instant::now(), r.channels));
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "skipping a malformed viewer count report"),
                    }
                }
            }
        }
    }
}
