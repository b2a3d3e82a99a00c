//! Placement and the fleet view, from heartbeats made up in the test.

use super::*;
use crate::RunningChannel;

fn node(id: &str, sessions: Option<u32>, nvenc: u64, cpu: u64) -> Heartbeat {
    let mut encoders = Vec::new();
    if nvenc > 0 {
        encoders.push(EncoderKind::Nvenc);
    }
    if cpu > 0 {
        encoders.push(EncoderKind::X264);
    }
    Heartbeat {
        worker: WorkerId::new(id).unwrap(),
        encoders,
        gpu_model: (nvenc > 0).then(|| "test gpu".to_owned()),
        gpu_load: None,
        nvenc_session_limit: sessions,
        nvenc_sessions_in_use: 0,
        capacity_nvenc_pps: nvenc,
        capacity_cpu_pps: cpu,
        cpu_count: 8,
        load_average: 0.5,
        channels: Vec::new(),
        state: NodeState::Ready,
        sent_unix_ms: 1,
        sequence: 1,
    }
}

fn ch(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

const M: u64 = 1_000_000;

#[test]
fn respects_session_caps_and_says_why() {
    let now = Instant::now();
    let mut view = FleetView::default();
    view.observe(node("gpu-a", Some(3), 1000 * M, 0), now);
    let four = ChannelCost::new(4, 10 * M, false);
    let err = view.place(&ch("a"), &four, Policy::Spread).unwrap_err();
    assert_eq!(
        err.reason,
        "no node has 4 free NVENC sessions; largest free: 3 on gpu-a"
    );
    let two = ChannelCost::new(2, 10 * M, false);
    let p = view.place(&ch("b"), &two, Policy::Spread).unwrap();
    assert_eq!((p.worker.as_str(), p.kind), ("gpu-a", EncoderKind::Nvenc));
    // The reservation counts: one session left.
    let err = view.place(&ch("c"), &two, Policy::Spread).unwrap_err();
    assert!(err.reason.contains("largest free: 1 on gpu-a"), "{err}");
    // Giving the reservation back frees the sessions.
    view.unreserve(&ch("b"));
    view.place(&ch("c"), &two, Policy::Spread).unwrap();
}

#[test]
fn nvenc_profile_needs_a_gpu_node() {
    let now = Instant::now();
    let mut view = FleetView::default();
    assert!(view
        .choose(&ChannelCost::new(1, M, true), Policy::Spread)
        .unwrap_err()
        .reason
        .contains("no heartbeat"));
    view.observe(node("cpu-a", None, 0, 100 * M), now);
    let err = view
        .choose(&ChannelCost::new(1, M, false), Policy::Spread)
        .unwrap_err();
    assert_eq!(err.reason, "profile needs NVENC and no GPU node is ready");
    let p = view
        .choose(&ChannelCost::new(1, M, true), Policy::Spread)
        .unwrap();
    assert_eq!(p.kind, EncoderKind::X264);
}

#[test]
fn prefers_nvenc_then_cpu_only_nodes() {
    let now = Instant::now();
    let mut view = FleetView::default();
    view.observe(node("cpu-a", None, 0, 100 * M), now);
    view.observe(node("gpu-a", None, 100 * M, 100 * M), now);
    let cost = ChannelCost::new(2, 60 * M, true);
    let p = view.place(&ch("a"), &cost, Policy::Spread).unwrap();
    assert_eq!((p.worker.as_str(), p.kind), ("gpu-a", EncoderKind::Nvenc));
    // NVENC is full now; x264 goes to the CPU-only node first.
    let p = view.place(&ch("b"), &cost, Policy::Spread).unwrap();
    assert_eq!((p.worker.as_str(), p.kind), ("cpu-a", EncoderKind::X264));
    let p = view.place(&ch("c"), &cost, Policy::Spread).unwrap();
    assert_eq!((p.worker.as_str(), p.kind), ("gpu-a", EncoderKind::X264));
    let err = view.place(&ch("d"), &cost, Policy::Spread).unwrap_err();
    assert!(err.reason.contains("NVENC capacity free"), "{err}");
    assert!(err.reason.contains("x264 capacity free"), "{err}");
}

#[test]
fn spread_and_pack() {
    let now = Instant::now();
    let mut view = FleetView::default();
    view.observe(node("big", None, 1000 * M, 0), now);
    view.observe(node("small", None, 200 * M, 0), now);
    let cost = ChannelCost::new(1, 100 * M, false);
    assert_eq!(
        view.choose(&cost, Policy::Spread).unwrap().worker.as_str(),
        "big"
    );
    assert_eq!(
        view.choose(&cost, Policy::Pack).unwrap().worker.as_str(),
        "small"
    );
}

#[test]
fn draining_nodes_take_nothing() {
    let now = Instant::now();
    let mut view = FleetView::default();
    let mut hb = node("gpu-a", None, 1000 * M, 0);
    hb.state = NodeState::Draining;
    view.observe(hb, now);
    let err = view
        .choose(&ChannelCost::new(1, M, false), Policy::Spread)
        .unwrap_err();
    assert_eq!(err.reason, "every worker (1) is draining");
}

#[test]
fn heartbeats_take_over_reservations_and_nodes_expire() {
    let t0 = Instant::now();
    let mut view = FleetView::new(Duration::from_secs(3));
    view.observe(node("gpu-a", Some(4), 1000 * M, 0), t0);
    let cost = ChannelCost::new(2, 10 * M, false);
    view.place(&ch("a"), &cost, Policy::Spread).unwrap();
    // The next heartbeat lists the channel: counted once, not twice.
    let mut hb = node("gpu-a", Some(4), 1000 * M, 0);
    hb.sequence = 2;
    hb.nvenc_sessions_in_use = 2;
    hb.channels.push(RunningChannel {
        name: ch("a"),
        epoch: 1,
        kind: EncoderKind::Nvenc,
        sessions: 2,
        pixel_rate: 10 * M,
    });
    view.observe(hb.clone(), t0 + Duration::from_secs(1));
    view.place(&ch("b"), &cost, Policy::Spread).unwrap();
    assert!(view.choose(&cost, Policy::Spread).is_err());
    // A reordered older heartbeat changes nothing.
    let mut old = hb.clone();
    old.sequence = 1;
    old.channels.clear();
    old.nvenc_sessions_in_use = 0;
    view.observe(old, t0 + Duration::from_secs(2));
    assert!(view.choose(&cost, Policy::Spread).is_err());

    assert!(view.expire(t0 + Duration::from_secs(3)).is_empty());
    let gone = view.expire(t0 + Duration::from_millis(4100));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].channels[0].name, ch("a"));
    assert!(view.is_empty());
}

#[test]
fn unstarted_reservations_lapse() {
    let t0 = Instant::now();
    let mut view = FleetView::default();
    view.observe(node("gpu-a", Some(2), 1000 * M, 0), t0);
    let cost = ChannelCost::new(2, 10 * M, false);
    view.place(&ch("a"), &cost, Policy::Spread).unwrap();
    for seq in 2..(2 + u64::from(RESERVATION_HEARTBEATS)) {
        assert!(view.choose(&cost, Policy::Spread).is_err());
        let mut hb = node("gpu-a", Some(2), 1000 * M, 0);
        hb.sequence = seq;
        view.observe(hb, t0);
    }
    view.choose(&cost, Policy::Spread).unwrap();
}
