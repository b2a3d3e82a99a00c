//! One node as the placement sees it: its latest heartbeat, the placements
//! not yet in a heartbeat (reservations), and what is left free.

use std::time::Instant;

use livefleet_base::ChannelName;

use crate::{ChannelCost, EncoderKind, Heartbeat};

#[derive(Debug, Clone)]
pub(super) struct Reservation {
    pub(super) channel: ChannelName,
    pub(super) kind: EncoderKind,
    pub(super) sessions: u32,
    pub(super) pixel_rate: u64,
    pub(super) heartbeats_left: u32,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) heartbeat: Heartbeat,
    pub(super) last_seen: Instant,
    /// From the heartbeat: NVENC sessions and pixel rates in use.
    pub(super) used_sessions: u32,
    pub(super) used_nvenc_pps: u64,
    pub(super) used_cpu_pps: u64,
    pub(super) reservations: Vec<Reservation>,
    pub(super) reserved_sessions: u32,
    pub(super) reserved_nvenc_pps: u64,
    pub(super) reserved_cpu_pps: u64,
}

/// Free capacity of one encoder kind on one node.
#[derive(Debug, Clone, Copy)]
pub(super) struct Free {
    /// `None`: no session cap.
    pub(super) sessions: Option<u32>,
    pub(super) pixel_rate: u64,
    pub(super) capacity: u64,
}

impl Node {
    pub(super) fn new(heartbeat: Heartbeat, now: Instant) -> Node {
        let mut node = Node {
            heartbeat,
            last_seen: now,
            used_sessions: 0,
            used_nvenc_pps: 0,
            used_cpu_pps: 0,
            reservations: Vec::new(),
            reserved_sessions: 0,
            reserved_nvenc_pps: 0,
            reserved_cpu_pps: 0,
        };
        node.absorb_heartbeat();
        node
    }

    pub(super) fn absorb_heartbeat(&mut self) {
        let (nvenc_pps, sessions, cpu_pps) = self.heartbeat.channel_load();
        self.used_sessions = sessions.max(self.heartbeat.nvenc_sessions_in_use);
        self.used_nvenc_pps = nvenc_pps;
        self.used_cpu_pps = cpu_pps;
        let listed = &self.heartbeat.channels;
        self.reservations.retain_mut(|r| {
            r.heartbeats_left = r.heartbeats_left.saturating_sub(1);
            r.heartbeats_left > 0 && !listed.iter().any(|c| c.name == r.channel)
        });
        self.sum_reservations();
    }

    pub(super) fn sum_reservations(&mut self) {
        let (mut s, mut n, mut c) = (0u32, 0u64, 0u64);
        for r in &self.reservations {
            match r.kind {
                EncoderKind::Nvenc => {
                    s = s.saturating_add(r.sessions);
                    n = n.saturating_add(r.pixel_rate);
                }
                EncoderKind::X264 => c = c.saturating_add(r.pixel_rate),
            }
        }
        self.reserved_sessions = s;
        self.reserved_nvenc_pps = n;
        self.reserved_cpu_pps = c;
    }

    pub(super) fn offers(&self, kind: EncoderKind) -> bool {
        self.heartbeat.encoders.contains(&kind)
    }

    pub(super) fn free(&self, kind: EncoderKind) -> Option<Free> {
        if !self.offers(kind) {
            return None;
        }
        let hb = &self.heartbeat;
        Some(match kind {
            EncoderKind::Nvenc => Free {
                sessions: hb.nvenc_session_limit.map(|limit| {
                    limit.saturating_sub(self.used_sessions.saturating_add(self.reserved_sessions))
                }),
                pixel_rate: hb
                    .capacity_nvenc_pps
                    .saturating_sub(self.used_nvenc_pps.saturating_add(self.reserved_nvenc_pps)),
                capacity: hb.capacity_nvenc_pps,
            },
            EncoderKind::X264 => Free {
                sessions: None,
                pixel_rate: hb
                    .capacity_cpu_pps
                    .saturating_sub(self.used_cpu_pps.saturating_add(self.reserved_cpu_pps)),
                capacity: hb.capacity_cpu_pps,
            },
        })
    }
}

impl Free {
    pub(super) fn fits(&self, kind: EncoderKind, cost: &ChannelCost) -> bool {
        let sessions_ok =
            kind == EncoderKind::X264 || self.sessions.is_none_or(|s| s >= cost.nvenc_sessions);
        sessions_ok && self.pixel_rate >= cost.pixel_rate
    }

    /// Fraction of the node left free after taking `cost`, in 0..=1: the
    /// scarcer of pixel rate and (capped) sessions.
    pub(super) fn left_after(
        &self,
        kind: EncoderKind,
        cost: &ChannelCost,
        limit: Option<u32>,
    ) -> f64 {
        let pps = if self.capacity == 0 {
            0.0
        } else {
            (self.pixel_rate - cost.pixel_rate) as f64 / self.capacity as f64
        };
        match (kind, self.sessions, limit) {
            (EncoderKind::Nvenc, Some(free), Some(limit)) if limit > 0 => {
                pps.min(f64::from(free - cost.nvenc_sessions) / f64::from(limit))
            }
            _ => pps,
        }
    }
}
