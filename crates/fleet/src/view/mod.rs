//! The scheduler's picture of the fleet and channel placement on it.
//!
//! [`FleetView`] is a plain data structure (no I/O, time passed in): it keeps
//! the latest heartbeat of every worker with the time it arrived, and the
//! placements made since, so that back-to-back placements do not count the
//! same free capacity twice. [`FleetView::place`] scans the nodes once
//! (O(nodes)) and picks one by [`Policy`].

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::{ChannelCost, EncoderKind, Heartbeat, NodeState, WorkerId};

mod no_fit;
mod node;

use node::{Node, Reservation};

/// A worker silent for longer than this is considered gone (three missed
/// heartbeats at one per second).
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);

/// A placement stays counted against its node until the node's heartbeat
/// lists the channel, or until this many heartbeats from the node have not
/// listed it (the worker never started it).
pub const RESERVATION_HEARTBEATS: u32 = 5;

/// How to choose among nodes that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// The node left with the most free capacity: spreads load, limits the
    /// blast radius of a node failure.
    #[default]
    Spread,
    /// The node left with the least free capacity (best fit): keeps whole
    /// nodes free for large ladders and lets idle nodes be scaled down.
    Pack,
}

/// Where a channel goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The worker that runs it.
    pub worker: WorkerId,
    /// The encoder it runs on there.
    pub kind: EncoderKind,
}

/// No node can take the channel; `reason` says why, for the publisher's
/// refusal and the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NoFit {
    /// Human-readable reason.
    pub reason: String,
    /// The reason as a metric label: `no_workers`, `all_draining`,
    /// `no_encoder` (no ready node offers an encoder the profile allows),
    /// `no_sessions` (NVENC sessions exhausted) or `no_capacity`.
    pub kind: &'static str,
}

/// What the fleet holds now, for the scheduler's gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetSummary {
    pub ready: usize,
    pub draining: usize,
    /// Pixels per second free and in all on ready nodes: `(free, capacity)`.
    pub x264: (u64, u64),
    pub nvenc: (u64, u64),
    /// NVENC sessions free on ready GPU nodes with a cap (uncapped nodes add none).
    pub nvenc_sessions_free: u64,
}

/// The fleet as the scheduler sees it. See the module documentation.
#[derive(Debug, Clone)]
pub struct FleetView {
    nodes: HashMap<WorkerId, Node>,
    reserved_on: HashMap<ChannelName, WorkerId>,
    timeout: Duration,
}

impl Default for FleetView {
    fn default() -> Self {
        FleetView::new(DEFAULT_HEARTBEAT_TIMEOUT)
    }
}

/// The best candidate found so far in a scan.
struct Best<'a> {
    worker: &'a WorkerId,
    kind: EncoderKind,
    /// Lower is better.
    rank: (u8, f64),
}

impl FleetView {
    /// An empty view whose nodes expire after `timeout` without a heartbeat.
    pub fn new(timeout: Duration) -> FleetView {
        FleetView {
            nodes: HashMap::new(),
            reserved_on: HashMap::new(),
            timeout,
        }
    }

    /// The heartbeat timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Takes a heartbeat received at `now`. Returns `true` if the worker was
    /// not in the view before. A heartbeat older than the one already held
    /// (lower sequence and no later send time: a reordered message) is
    /// ignored apart from refreshing nothing.
    pub fn observe(&mut self, heartbeat: Heartbeat, now: Instant) -> bool {
        match self.nodes.get_mut(&heartbeat.worker) {
            Some(node) => {
                let old = &node.heartbeat;
                if heartbeat.sequence <= old.sequence && heartbeat.sent_unix_ms <= old.sent_unix_ms
                {
                    return false;
                }
                node.heartbeat = heartbeat;
                node.last_seen = now;
                let before: Vec<ChannelName> = node
                    .reservations
                    .iter()
                    .map(|r| r.channel.clone())
                    .collect();
                node.absorb_heartbeat();
                for gone in before
                    .iter()
                    .filter(|c| !node.reservations.iter().any(|r| &r.channel == *c))
                {
                    self.reserved_on.remove(gone);
                }
                false
            }
            None => {
                self.nodes
                    .insert(heartbeat.worker.clone(), Node::new(heartbeat, now));
                true
            }
        }
    }

    /// Marks a worker draining (or ready again) until its next heartbeat;
    /// the scheduler re-applies its drain list to every heartbeat it takes.
    pub fn set_draining(&mut self, worker: &WorkerId, draining: bool) {
        if let Some(node) = self.nodes.get_mut(worker) {
            node.heartbeat.state = if draining {
                NodeState::Draining
            } else {
                NodeState::Ready
            };
        }
    }

    /// Removes and returns the last heartbeat of every worker silent for
    /// longer than the timeout at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<Heartbeat> {
        let timeout = self.timeout;
        let gone: Vec<WorkerId> = self
            .nodes
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        gone.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Forgets a worker; returns its last heartbeat.
    pub fn remove(&mut self, worker: &WorkerId) -> Option<Heartbeat> {
        let node = self.nodes.remove(worker)?;
        for r in &node.reservations {
            self.reserved_on.remove(&r.channel);
        }
        Some(node.heartbeat)
    }

    /// Number of workers in the view.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if no worker is known.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// True if the worker is in the view (heard within the timeout, as of
    /// the last [`expire`](Self::expire)).
    pub fn contains(&self, worker: &WorkerId) -> bool {
        self.nodes.contains_key(worker)
    }

    /// The latest heartbeat of a worker.
    pub fn heartbeat(&self, worker: &WorkerId) -> Option<&Heartbeat> {
        self.nodes.get(worker).map(|n| &n.heartbeat)
    }

    /// Every worker's latest heartbeat, in no particular order.
    pub fn heartbeats(&self) -> impl Iterator<Item = &Heartbeat> {
        self.nodes.values().map(|n| &n.heartbeat)
    }

    /// Chooses a node for a channel of `cost` without recording anything.
    /// NVENC is preferred over x264 when the profile allows both; x264 work
    /// goes to CPU-only nodes before GPU nodes' CPUs. Draining nodes are
    /// never chosen. O(nodes).
    pub fn choose(&self, cost: &ChannelCost, policy: Policy) -> Result<Placement, NoFit> {
        let mut best: Option<Best<'_>> = None;
        for (id, node) in &self.nodes {
            if node.heartbeat.state != NodeState::Ready {
                continue;
            }
            let mut consider = |kind: EncoderKind, tier: u8| {
                let Some(free) = node.free(kind) else { return };
                if !free.fits(kind, cost) {
                    return;
                }
                let left = free.left_after(kind, cost, node.heartbeat.nvenc_session_limit);
                let score = match policy {
                    Policy::Spread => -left,
                    Policy::Pack => left,
                };
                let rank = (tier, score);
                let better = match &best {
                    None => true,
                    Some(b) => match rank
                        .0
                        .cmp(&b.rank.0)
                        .then(rank.1.partial_cmp(&b.rank.1).unwrap_or(Ordering::Equal))
                    {
                        Ordering::Less => true,
                        Ordering::Equal => id < b.worker,
                        Ordering::Greater => false,
                    },
                };
                if better {
                    best = Some(Best {
                        worker: id,
                        kind,
                        rank,
                    });
                }
            };
            if cost.nvenc_allowed {
                consider(EncoderKind::Nvenc, 0);
            }
            if cost.cpu_allowed {
                let tier = if node.offers(EncoderKind::Nvenc) {
                    2
                } else {
                    1
                };
                consider(EncoderKind::X264, tier);
            }
        }
        match best {
            Some(b) => Ok(Placement {
                worker: b.worker.clone(),
                kind: b.kind,
            }),
            None => Err(self.why_no_fit(cost)),
        }
    }

    /// Chooses a node (as [`choose`](Self::choose)) and reserves the
    /// channel's cost on it until the node's heartbeats account for it.
    pub fn place(
        &mut self,
        channel: &ChannelName,
        cost: &ChannelCost,
        policy: Policy,
    ) -> Result<Placement, NoFit> {
        let placement = self.choose(cost, policy)?;
        self.reserve(channel, &placement, cost);
        Ok(placement)
    }

    /// Counts `cost` against the placement's node (replacing an earlier
    /// reservation of the channel). Does nothing for an unknown worker.
    pub fn reserve(&mut self, channel: &ChannelName, placement: &Placement, cost: &ChannelCost) {
        self.unreserve(channel);
        let Some(node) = self.nodes.get_mut(&placement.worker) else {
            return;
        };
        node.reservations.push(Reservation {
            channel: channel.clone(),
            kind: placement.kind,
            sessions: if placement.kind == EncoderKind::Nvenc {
                cost.nvenc_sessions
            } else {
                0
            },
            pixel_rate: cost.pixel_rate,
            heartbeats_left: RESERVATION_HEARTBEATS,
        });
        node.sum_reservations();
        self.reserved_on
            .insert(channel.clone(), placement.worker.clone());
    }

    /// Drops the reservation of a channel (the assignment was not written).
    pub fn unreserve(&mut self, channel: &ChannelName) {
        let Some(worker) = self.reserved_on.remove(channel) else {
            return;
        };
        if let Some(node) = self.nodes.get_mut(&worker) {
            node.reservations.retain(|r| &r.channel != channel);
            node.sum_reservations();
        }
    }

    /// Nodes by state and the capacity free on ready nodes, per encoder kind.
    pub fn summary(&self) -> FleetSummary {
        let mut s = FleetSummary::default();
        for node in self.nodes.values() {
            if node.heartbeat.state != NodeState::Ready {
                s.draining += 1;
                continue;
            }
            s.ready += 1;
            if let Some(f) = node.free(EncoderKind::X264) {
                s.x264.0 += f.pixel_rate;
                s.x264.1 += f.capacity;
            }
            if let Some(f) = node.free(EncoderKind::Nvenc) {
                s.nvenc.0 += f.pixel_rate;
                s.nvenc.1 += f.capacity;
                s.nvenc_sessions_free += u64::from(f.sessions.unwrap_or(0));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
