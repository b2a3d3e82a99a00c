//! The heartbeats of a fleet worker: what it runs and what it can take.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use livefleet_base::ChannelName;
use livefleet_fleet::{
    heartbeat_subject, EncoderKind as FleetEncoder, GpuLoad, Heartbeat, NodeState, RunningChannel,
};

use super::{Node, Running};
use crate::encoder::EncoderKind;

/// What the fleet knows about this node, for its heartbeats.
#[derive(Debug, Clone)]
pub struct NodeCapacity {
    /// Pixels per second libx264 encodes in real time here (`livefleet worker calibrate`).
    pub cpu_pps: u64,
    /// Pixels per second NVENC encodes in real time here (0 without a GPU).
    pub nvenc_pps: u64,
    /// The GPU's concurrent NVENC session cap, when it has one.
    pub nvenc_session_limit: Option<u32>,
    pub gpu_model: Option<String>,
}

impl NodeCapacity {
    /// A conservative default for a CPU-only node: about 60% of the measured
    /// libx264 veryfast throughput of one core per core (see docs/operations.md).
    pub fn cpu_default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        Self {
            cpu_pps: cores * 12_000_000,
            nvenc_pps: 0,
            nvenc_session_limit: None,
            gpu_model: None,
        }
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// What the heartbeats say this worker runs.
pub(super) fn advertised(running: &HashMap<ChannelName, Running>) -> Vec<RunningChannel> {
    running
        .iter()
        .map(|(name, r)| {
            let nvenc = r.run.kind == EncoderKind::Nvenc;
            RunningChannel {
                name: name.clone(),
                epoch: r.epoch,
                kind: if nvenc {
                    FleetEncoder::Nvenc
                } else {
                    FleetEncoder::X264
                },
                sessions: if nvenc { r.cost.nvenc_sessions } else { 0 },
                pixel_rate: r.cost.pixel_rate,
            }
        })
        .collect()
}

/// Sends heartbeats every second from what `channels` holds, on a task of
/// its own: starting a channel (KV reads) or a slow bus never delays them,
/// or the scheduler would think this worker dead and move its channels.
pub(super) fn spawn_heartbeats(
    node: Arc<Node>,
    channels: Arc<std::sync::Mutex<Vec<RunningChannel>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = channels.lock().unwrap_or_else(|e| e.into_inner()).clone();
            heartbeat(&node, now).await;
        }
    })
}

pub(super) async fn heartbeat(node: &Arc<Node>, channels: Vec<RunningChannel>) {
    let mut encoders = vec![FleetEncoder::X264];
    if node.base.nvenc.is_ok() {
        encoders.insert(0, FleetEncoder::Nvenc);
    }
    let ours: u32 = channels.iter().map(|c| c.sessions).sum();
    let gpu = node
        .base
        .gpu
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let ratio = |percent: Option<u32>| f64::from(percent.unwrap_or(0).min(100)) / 100.0;
    let gpu_load = gpu.as_ref().map(|g| GpuLoad {
        encoder_utilization: ratio(g.encoder_utilization),
        decoder_utilization: ratio(g.decoder_utilization),
        encoder_sessions: g.encoder_sessions.min(livefleet_fleet::MAX_NVENC_SESSIONS),
    });
    // Other processes' NVENC sessions count against the GPU's cap too.
    let sessions = ours.max(gpu_load.map_or(0, |g| g.encoder_sessions));
    let hb = Heartbeat {
        worker: node.id.clone(),
        encoders,
        gpu_model: node.capacity.gpu_model.clone(),
        gpu_load,
        nvenc_session_limit: node.capacity.nvenc_session_limit,
        nvenc_sessions_in_use: sessions,
        capacity_nvenc_pps: if node.base.nvenc.is_ok() {
            node.capacity.nvenc_pps
        } else {
            0
        },
        capacity_cpu_pps: node.capacity.cpu_pps,
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
        load_average: load_average(),
        channels,
        state: if node.draining.load(Ordering::Relaxed) {
            NodeState::Draining
        } else {
            NodeState::Ready
        },
        sent_unix_ms: livefleet_base::now_unix_ms(),
        sequence: node.sequence.fetch_add(1, Ordering::Relaxed),
    };
    if let Err(e) = node
        .client
        .publish(heartbeat_subject(&node.id), hb.encode().into())
        .await
    {
        tracing::warn!(error = %e, "heartbeat not sent");
    }
}
