//! Placement benchmark: 1,000 simulated workers, 10,000 channels.
//!
//! The fleet mixes GPU nodes with NVENC session caps of 3 and 5 (consumer
//! cards on older and newer drivers), uncapped GPU nodes (datacenter cards)
//! and CPU-only nodes. Channels use the shipped ladder profiles with a mix of
//! sources. Every tenth placement is followed by a heartbeat from a random
//! node, as a live scheduler would interleave them. Prints placements per
//! second and p50/p99/max latency of one `FleetView::place`; there is no
//! pass/fail (the target is p99 at most 10 ms).
//!
//! Run with `cargo bench --bench placement`.

use std::time::{Duration, Instant};

use livefleet_base::ChannelName;
use livefleet_fleet::{
    ChannelCost, EncoderKind, FleetView, Heartbeat, NodeState, Policy, RunningChannel, WorkerId,
};
use livefleet_profile::LadderProfile;

const WORKERS: usize = 1_000;
const CHANNELS: usize = 10_000;

/// xorshift64*: a fixed, dependency-free sequence so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn worker(i: usize, rng: &mut Rng) -> Heartbeat {
    let kind = rng.below(10);
    let (id, encoders, limit, nvenc, cpu) = match kind {
        // 30%: consumer GPU, 3 sessions (older drivers).
        0..=2 => (
            format!("gpu3-{i:04}"),
            vec![EncoderKind::Nvenc, EncoderKind::X264],
            Some(3),
            1_000_000_000,
            150_000_000,
        ),
        // 20%: consumer GPU, 5 sessions.
        3..=4 => (
            format!("gpu5-{i:04}"),
            vec![EncoderKind::Nvenc, EncoderKind::X264],
            Some(5),
            1_200_000_000,
            150_000_000,
        ),
        // 20%: datacenter GPU, no session cap.
        5..=6 => (
            format!("gpu-{i:04}"),
            vec![EncoderKind::Nvenc, EncoderKind::X264],
            None,
            2_500_000_000,
            300_000_000,
        ),
        // 30%: CPU only.
        _ => (
            format!("cpu-{i:04}"),
            vec![EncoderKind::X264],
            None,
            0,
            200_000_000 + rng.below(400) * 1_000_000,
        ),
    };
    Heartbeat {
        worker: WorkerId::new(id).expect("generated ids are valid"),
        encoders,
        gpu_model: (nvenc > 0).then(|| "simulated".to_owned()),
        gpu_load: None,
        nvenc_session_limit: limit,
        nvenc_sessions_in_use: 0,
        capacity_nvenc_pps: nvenc,
        capacity_cpu_pps: cpu,
        cpu_count: 32,
        load_average: 1.0,
        channels: Vec::new(),
        state: if rng.below(50) == 0 {
            NodeState::Draining
        } else {
            NodeState::Ready
        },
        sent_unix_ms: 1,
        sequence: 1,
    }
}

fn profiles() -> Vec<LadderProfile> {
    let cpu_only = "name: one\nencoder: x264\nvideo:\n  - { name: 480p, width: 854, height: 480, bitrate: 1400k }\n";
    [
        (
            "default-1080p",
            include_str!("../ladder-profiles/default-1080p.yaml"),
        ),
        (
            "cpu-small",
            include_str!("../ladder-profiles/cpu-small.yaml"),
        ),
        (
            "hevc-nvenc",
            include_str!("../ladder-profiles/hevc-nvenc.yaml"),
        ),
        (
            "passthrough",
            include_str!("../ladder-profiles/passthrough.yaml"),
        ),
        ("one", cpu_only),
    ]
    .iter()
    .map(|(name, yaml)| LadderProfile::from_yaml(name, yaml).expect("shipped profiles are valid"))
    .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run(policy: Policy) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let start = Instant::now();
    let mut view = FleetView::default();
    let mut fleet: Vec<Heartbeat> = (0..WORKERS).map(|i| worker(i, &mut rng)).collect();
    for hb in &fleet {
        view.observe(hb.clone(), start);
    }
    let profiles = profiles();
    let sources = [
        None,
        Some((1920, 1080, 30.0)),
        Some((1280, 720, 30.0)),
        Some((1920, 1080, 60.0)),
    ];

    let mut latencies = Vec::with_capacity(CHANNELS);
    let mut refused_latencies = Vec::new();
    let mut on_kind = [0usize; 2];
    let began = Instant::now();
    for n in 0..CHANNELS {
        let profile = &profiles[rng.below(profiles.len() as u64) as usize];
        let source = sources[rng.below(sources.len() as u64) as usize];
        let cost = ChannelCost::of(profile, source);
        let channel = ChannelName::new(format!("ch-{n:05}")).expect("generated names are valid");

        let t = Instant::now();
        let placed = view.place(&channel, &cost, policy);
        latencies.push(t.elapsed());

        match placed {
            Ok(p) => {
                on_kind[usize::from(p.kind == EncoderKind::X264)] += 1;
                // The worker starts the channel and says so in its next heartbeat.
                if let Some(hb) = fleet.iter_mut().find(|h| h.worker == p.worker) {
                    hb.channels.push(RunningChannel {
                        name: channel,
                        epoch: 1,
                        kind: p.kind,
                        sessions: if p.kind == EncoderKind::Nvenc {
                            cost.nvenc_sessions
                        } else {
                            0
                        },
                        pixel_rate: cost.pixel_rate,
                    });
                }
            }
            Err(_) => refused_latencies.push(t.elapsed()),
        }
        if n % 10 == 9 {
            let hb = &mut fleet[rng.below(WORKERS as u64) as usize];
            hb.sequence += 1;
            hb.nvenc_sessions_in_use = hb.channels.iter().map(|c| c.sessions).sum();
            view.observe(hb.clone(), start);
        }
    }
    let total = began.elapsed();
    let refused = refused_latencies.len();
    latencies.sort();
    refused_latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len().max(1) as u32;
    println!(
        "placement {policy:?}: {WORKERS} workers, {CHANNELS} channels ({} on NVENC, {} on x264, {refused} refused)",
        on_kind[0], on_kind[1]
    );
    println!(
        "  {:.0} placements/s (whole loop incl. heartbeats: {:.2} s); latency mean {:?}, p50 {:?}, p99 {:?}, max {:?}",
        CHANNELS as f64 / total.as_secs_f64(),
        total.as_secs_f64(),
        mean,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "  refusals alone (reason built): p50 {:?}, p99 {:?}",
        percentile(&refused_latencies, 0.50),
        percentile(&refused_latencies, 0.99),
    );
}

fn main() {
    run(Policy::Spread);
    run(Policy::Pack);
}
