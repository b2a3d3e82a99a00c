//! The scheduler against a real nats-server, with simulated workers that
//! publish heartbeats from the test and report the channels assigned to them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use livefleet_base::ChannelName;
use livefleet_bus::{connect, jetstream, ChannelRecord, ChannelRegistry, NatsServer};
use livefleet_fleet::{
    heartbeat_subject, Assignments, ChannelCost, EncoderKind, Heartbeat, NodeState, PlaceReply,
    PlaceRequest, Policy, RunningChannel, WorkerId, PLACE_SUBJECT,
};
use livefleet_profile::LadderProfile;
use livefleet_scheduler::{run, SchedulerConfig};
use tokio::task::JoinHandle;

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Guards against a hang; never a timing assertion.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing after 30 s"),
    }
}

/// Three H.264 renditions, 3 NVENC sessions, 46.9 Mpx/s; may run on x264.
const THREE: &str = "name: three\nvideo:\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n  - { name: 480p, width: 854, height: 480, bitrate: 1400k }\n  - { name: 360p, width: 640, height: 360, bitrate: 730k }\n";
/// Two HEVC renditions: NVENC only, 2 sessions.
const HEVC: &str = "name: hevc\nallow_cpu: false\nvideo:\n  - { name: 720p, width: 1280, height: 720, bitrate: 2000k, codec: hevc }\n  - { name: 360p, width: 640, height: 360, bitrate: 500k, codec: hevc }\n";
/// One libx264 rendition.
const ONE: &str = "name: one\nencoder: x264\nvideo:\n  - { name: 360p, width: 640, height: 360, bitrate: 730k }\n";

const M: u64 = 1_000_000;

#[derive(Clone)]
struct Spec {
    id: &'static str,
    limit: Option<u32>,
    nvenc_pps: u64,
    cpu_pps: u64,
}

/// A simulated worker: heartbeats every 250 ms listing the channels the
/// assignments bucket gives it.
struct SimWorker {
    task: JoinHandle<()>,
}

impl Drop for SimWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn sim_worker(
    client: async_nats::Client,
    assignments: Assignments,
    spec: Spec,
    costs: Arc<HashMap<ChannelName, ChannelCost>>,
) -> SimWorker {
    let task = tokio::spawn(async move {
        let me = WorkerId::new(spec.id).unwrap();
        let mine: Arc<Mutex<BTreeMap<ChannelName, u64>>> = Arc::default();
        let mut watch = assignments.watch_with_current().await.unwrap();
        let seen = Arc::clone(&mine);
        let who = me.clone();
        let watcher = tokio::spawn(async move {
            while let Some(Ok(a)) = watch.next().await {
                let mut seen = seen.lock().unwrap();
                if a.worker.as_ref() == Some(&who) {
                    seen.insert(a.channel, a.epoch);
                } else {
                    seen.remove(&a.channel);
                }
            }
        });
        let _watcher = AbortOnDrop(watcher);
        let mut encoders = Vec::new();
        if spec.nvenc_pps > 0 {
            encoders.push(EncoderKind::Nvenc);
        }
        if spec.cpu_pps > 0 {
            encoders.push(EncoderKind::X264);
        }
        for sequence in 1.. {
            let channels: Vec<RunningChannel> = mine
                .lock()
                .unwrap()
                .iter()
                .map(|(name, epoch)| {
                    let cost = costs[name];
                    let kind = if spec.nvenc_pps > 0 && cost.nvenc_allowed {
                        EncoderKind::Nvenc
                    } else {
                        EncoderKind::X264
                    };
                    RunningChannel {
                        name: name.clone(),
                        epoch: *epoch,
                        kind,
                        sessions: if kind == EncoderKind::Nvenc {
                            cost.nvenc_sessions
                        } else {
                            0
                        },
                        pixel_rate: cost.pixel_rate,
                    }
                })
                .collect();
            let hb = Heartbeat {
                worker: me.clone(),
                encoders: encoders.clone(),
                gpu_model: (spec.nvenc_pps > 0).then(|| "simulated".to_owned()),
                gpu_load: None,
                nvenc_session_limit: spec.limit,
                nvenc_sessions_in_use: channels.iter().map(|c| c.sessions).sum(),
                capacity_nvenc_pps: spec.nvenc_pps,
                capacity_cpu_pps: spec.cpu_pps,
                cpu_count: 8,
                load_average: 1.0,
                channels,
                state: NodeState::Ready,
                sent_unix_ms: 1_700_000_000_000 + sequence as i64,
                sequence,
            };
            let _ = client
                .publish(heartbeat_subject(&me), hb.encode().into())
                .await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    SimWorker { task }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn ch(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

/// Asks for a placement, retrying while no scheduler answers.
async fn place(client: &async_nats::Client, channel: &str) -> PlaceReply {
    let body = serde_json::to_vec(&PlaceRequest {
        channel: ch(channel),
        source: None,
    })
    .unwrap();
    within(&format!("placement of {channel}"), async {
        loop {
            match client.request(PLACE_SUBJECT, body.clone().into()).await {
                Ok(msg) => return serde_json::from_slice::<PlaceReply>(&msg.payload).unwrap(),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
}

/// Counts the answers to one request over `wait`.
async fn answers(client: &async_nats::Client, channel: &str, wait: Duration) -> usize {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.unwrap();
    let body = serde_json::to_vec(&PlaceRequest {
        channel: ch(channel),
        source: None,
    })
    .unwrap();
    client
        .publish_with_reply(PLACE_SUBJECT, inbox, body.into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut n = 0;
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, sub.next()).await {
        n += 1;
    }
    n
}

fn start_replica(url: String, id: &str, registry: prometheus::Registry) -> JoinHandle<()> {
    let config = SchedulerConfig {
        replica_id: id.to_owned(),
        heartbeat_timeout: Duration::from_millis(1500),
        policy: Policy::Spread,
        lease_ttl: Duration::from_secs(2),
    };
    tokio::spawn(async move {
        let client = connect(&url, "scheduler-test").await.unwrap();
        run(client, config, &registry, std::future::pending())
            .await
            .unwrap();
    })
}

/// The value of the series of `name` whose label `label.0` is `label.1`.
fn labelled(registry: &prometheus::Registry, name: &str, label: (&str, &str)) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == label.0 && l.value() == label.1)
        })
        .map(|m| m.get_gauge().get_value() + m.get_counter().get_value())
        .sum()
}

fn metric(registry: &prometheus::Registry, name: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .map(|m| {
            if m.get_gauge().get_value() != 0.0 {
                m.get_gauge().get_value()
            } else {
                m.get_counter().get_value()
            }
        })
        .sum()
}

#[tokio::test]
async fn places_within_capacity_fails_over_and_survives_the_leader() {
    init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "scheduler-test-client")
        .await
        .unwrap();
    let js = jetstream(&client).await.unwrap();
    let registry = ChannelRegistry::open(&js).await.unwrap();
    let assignments = Assignments::open(&js).await.unwrap();

    let plan = [
        ("c1", THREE),
        ("c2", HEVC),
        ("c3", HEVC),
        ("c4", ONE),
        ("c5", ONE),
        ("c6", THREE),
        ("c7", HEVC),
        ("c8", ONE),
    ];
    let mut costs = HashMap::new();
    for (i, (name, yaml)) in plan.iter().enumerate() {
        let profile = LadderProfile::from_yaml("<test>", yaml).unwrap();
        costs.insert(ch(name), ChannelCost::of(&profile, None));
        registry
            .create(ChannelRecord {
                name: ch(name),
                stream_key: format!("stream-key-{i:04}"),
                profile_yaml: yaml.to_string(),
                profile_name: profile.name.clone(),
                created_unix_ms: 1,
            })
            .await
            .unwrap();
    }
    let costs = Arc::new(costs);
    let specs = [
        // A consumer card capped at 3 sessions, one at 5, and a CPU node.
        Spec {
            id: "gpu-a",
            limit: Some(3),
            nvenc_pps: 1000 * M,
            cpu_pps: 0,
        },
        Spec {
            id: "gpu-b",
            limit: Some(5),
            nvenc_pps: 1000 * M,
            cpu_pps: 0,
        },
        Spec {
            id: "cpu-a",
            limit: None,
            nvenc_pps: 0,
            cpu_pps: 200 * M,
        },
    ];
    let mut workers: HashMap<&str, SimWorker> = specs
        .iter()
        .map(|s| {
            (
                s.id,
                sim_worker(
                    client.clone(),
                    assignments.clone(),
                    s.clone(),
                    Arc::clone(&costs),
                ),
            )
        })
        .collect();

    // Two replicas; the first one started leads.
    let metrics_1 = prometheus::Registry::new();
    let metrics_2 = prometheus::Registry::new();
    let replica_1 = start_replica(server.url(), "sched-1", metrics_1.clone());
    within("replica 1 leads", async {
        while metric(&metrics_1, "livefleet_scheduler_leader") != 1.0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let replica_2 = start_replica(server.url(), "sched-2", metrics_2.clone());

    // Six channels fit.
    let mut placed = HashMap::new();
    for name in ["c1", "c2", "c3", "c4", "c5", "c6"] {
        let reply = place(&client, name).await;
        assert!(reply.ok, "{name} refused: {:?}", reply.reason);
        placed.insert(name, reply.worker.unwrap());
    }
    // Session caps and capacities hold.
    let mut sessions: HashMap<&str, u32> = HashMap::new();
    let mut cpu: u64 = 0;
    for (name, worker) in &placed {
        let cost = costs[&ch(name)];
        match worker.as_str() {
            "cpu-a" => {
                assert!(cost.cpu_allowed, "{name} may not run on CPU");
                cpu += cost.pixel_rate;
            }
            gpu => {
                *sessions
                    .entry(if gpu == "gpu-a" { "gpu-a" } else { "gpu-b" })
                    .or_default() += cost.nvenc_sessions
            }
        }
    }
    assert!(
        sessions.get("gpu-a").copied().unwrap_or(0) <= 3,
        "{placed:?}"
    );
    assert!(
        sessions.get("gpu-b").copied().unwrap_or(0) <= 5,
        "{placed:?}"
    );
    assert!(cpu <= 200 * M);
    assert!(placed["c2"].as_str().starts_with("gpu"));
    assert!(placed["c3"].as_str().starts_with("gpu"));
    assert_eq!(placed["c4"].as_str(), "cpu-a");

    // A 7th (HEVC, 2 sessions) finds one free session at most: refused with its reason.
    let reply = place(&client, "c7").await;
    assert!(!reply.ok);
    let reason = reply.reason.unwrap();
    assert!(reason.contains("2 free NVENC sessions"), "{reason}");
    assert!(
        labelled(
            &metrics_1,
            "livefleet_scheduler_refusals_total",
            ("reason", "no_sessions")
        ) >= 1.0
    );
    // The fleet gauges: three ready workers, capacity free for each encoder kind, one leadership.
    assert_eq!(
        labelled(
            &metrics_1,
            "livefleet_scheduler_workers",
            ("state", "ready")
        ),
        3.0
    );
    assert!(
        labelled(
            &metrics_1,
            "livefleet_scheduler_capacity_pixels_per_second",
            ("encoder", "x264")
        ) > 0.0
    );
    assert_eq!(
        metric(&metrics_1, "livefleet_scheduler_leader_changes_total"),
        1.0
    );
    // Asking again for a placed channel gives its assignment back.
    let again = place(&client, "c1").await;
    assert_eq!(again.worker.as_ref(), Some(&placed["c1"]));
    // Malformed heartbeats are counted, never fatal.
    client
        .publish("livefleet.fleet.heartbeat.gpu-z", "{not json".into())
        .await
        .unwrap();
    client
        .publish(
            "livefleet.fleet.heartbeat.gpu-z",
            serde_json::to_vec(&serde_json::json!({"worker": "gpu-z", "encoders": []}))
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
    within("bad heartbeats counted", async {
        while metric(&metrics_1, "livefleet_scheduler_bad_heartbeats_total") < 2.0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // Failover: a larger GPU node joins, then gpu-b stops heartbeating.
    workers.insert(
        "gpu-c",
        sim_worker(
            client.clone(),
            assignments.clone(),
            Spec {
                id: "gpu-c",
                limit: None,
                nvenc_pps: 1000 * M,
                cpu_pps: 0,
            },
            Arc::clone(&costs),
        ),
    );
    let before = assignments.list().await.unwrap();
    let on_b: Vec<_> = before
        .iter()
        .filter(|a| a.worker.as_ref().map(WorkerId::as_str) == Some("gpu-b"))
        .cloned()
        .collect();
    assert!(!on_b.is_empty(), "nothing ran on gpu-b: {before:?}");
    drop(workers.remove("gpu-b"));
    within("gpu-b's channels move", async {
        loop {
            let mut moved = 0;
            for old in &on_b {
                let now = assignments.get(&old.channel).await.unwrap().unwrap();
                if now.epoch > old.epoch {
                    assert_ne!(now.worker.as_ref().map(WorkerId::as_str), Some("gpu-b"));
                    assert!(now.worker.is_some(), "released instead of moved: {now:?}");
                    assert!(now.reason.contains("failover from gpu-b"), "{now:?}");
                    moved += 1;
                }
            }
            if moved == on_b.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(metric(&metrics_1, "livefleet_scheduler_failovers_total") >= on_b.len() as f64);

    // Only the leader answers.
    assert_eq!(answers(&client, "c1", Duration::from_millis(1000)).await, 1);
    assert_eq!(metric(&metrics_2, "livefleet_scheduler_leader"), 0.0);

    // The leader dies: the other replica leads and placement goes on.
    replica_1.abort();
    let _ = replica_1.await;
    within("replica 2 leads", async {
        while metric(&metrics_2, "livefleet_scheduler_leader") != 1.0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let reply = place(&client, "c8").await;
    assert!(reply.ok, "c8 refused: {:?}", reply.reason);
    let c1 = place(&client, "c1").await;
    assert!(c1.ok);
    assert_eq!(answers(&client, "c1", Duration::from_millis(1000)).await, 1);

    // KV history: epochs rise by one per write and no epoch names two workers.
    for (name, _) in plan {
        let history = assignments.history(&ch(name)).await.unwrap();
        let mut seen: HashMap<u64, Option<WorkerId>> = HashMap::new();
        for pair in history.windows(2) {
            assert_eq!(pair[1].epoch, pair[0].epoch + 1, "{name}: {history:?}");
        }
        for a in &history {
            if let Some(other) = seen.insert(a.epoch, a.worker.clone()) {
                assert_eq!(
                    other, a.worker,
                    "{name} epoch {} names two workers",
                    a.epoch
                );
            }
        }
    }
    replica_2.abort();
    drop(workers);
}
