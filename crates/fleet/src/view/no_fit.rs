//! Why a channel fits nowhere, in words an operator can act on.

use std::fmt;

use super::{FleetView, NoFit, Node};
use crate::{ChannelCost, EncoderKind, NodeState, WorkerId};

impl FleetView {
    /// Explains why nothing fits, naming the closest candidate.
    pub(super) fn why_no_fit(&self, cost: &ChannelCost) -> NoFit {
        let no_fit = |kind: &'static str, reason: String| NoFit { reason, kind };
        let ready: Vec<(&WorkerId, &Node)> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.heartbeat.state == NodeState::Ready)
            .collect();
        if self.nodes.is_empty() {
            return no_fit(
                "no_workers",
                "no worker is ready: no heartbeat from any worker".into(),
            );
        }
        if ready.is_empty() {
            return no_fit(
                "all_draining",
                format!("every worker ({}) is draining", self.nodes.len()),
            );
        }
        let gpu: Vec<_> = ready
            .iter()
            .filter(|(_, n)| n.offers(EncoderKind::Nvenc))
            .collect();
        let cpu: Vec<_> = ready
            .iter()
            .filter(|(_, n)| n.offers(EncoderKind::X264))
            .collect();
        if cost.needs_nvenc && gpu.is_empty() {
            return no_fit(
                "no_encoder",
                "profile needs NVENC and no GPU node is ready".into(),
            );
        }
        if !cost.nvenc_allowed && cpu.is_empty() {
            return no_fit(
                "no_encoder",
                "profile needs x264 and no ready node offers it".into(),
            );
        }
        if !cost.cpu_allowed && gpu.is_empty() {
            return no_fit(
                "no_encoder",
                "profile may not run on CPU and no GPU node is ready".into(),
            );
        }
        let mut parts = Vec::new();
        let mut kind = "no_capacity";
        if cost.nvenc_allowed && !gpu.is_empty() {
            let free = |n: &Node| n.free(EncoderKind::Nvenc);
            let with_sessions: Vec<_> = gpu
                .iter()
                .filter(|(_, n)| {
                    free(n).is_some_and(|f| f.sessions.is_none_or(|s| s >= cost.nvenc_sessions))
                })
                .collect();
            if with_sessions.is_empty() {
                let (id, most) = gpu
                    .iter()
                    .filter_map(|(id, n)| Some((*id, free(n)?.sessions.unwrap_or(u32::MAX))))
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
                    .unwrap_or((gpu[0].0, 0));
                if !cost.cpu_allowed {
                    kind = "no_sessions";
                }
                parts.push(format!(
                    "no node has {} free NVENC sessions; largest free: {most} on {id}",
                    cost.nvenc_sessions
                ));
            } else {
                let (id, most) = with_sessions
                    .iter()
                    .filter_map(|(id, n)| Some((*id, free(n)?.pixel_rate)))
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
                    .unwrap_or((with_sessions[0].0, 0));
                parts.push(format!(
                    "no GPU node with {} free NVENC sessions has {} of NVENC capacity free; largest free: {} on {id}",
                    cost.nvenc_sessions,
                    Rate(cost.pixel_rate),
                    Rate(most)
                ));
            }
        }
        if cost.cpu_allowed {
            match cpu
                .iter()
                .filter_map(|(id, n)| Some((*id, n.free(EncoderKind::X264)?.pixel_rate)))
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            {
                Some((id, most)) => parts.push(format!(
                    "no node has {} of x264 capacity free; largest free: {} on {id}",
                    Rate(cost.pixel_rate),
                    Rate(most)
                )),
                None => parts.push("no ready node offers x264".into()),
            }
        } else if ready.iter().any(|(_, n)| !n.offers(EncoderKind::Nvenc)) {
            parts.push("CPU-only nodes are not allowed for this profile".into());
        }
        no_fit(kind, parts.join("; "))
    }
}

/// A pixel rate written for people: `124.4 Mpx/s`.
struct Rate(u64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} Mpx/s", self.0 as f64 / 1e6)
    }
}
