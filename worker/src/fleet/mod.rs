//! A worker in a fleet: it heartbeats, runs only the channels the scheduler
//! assigns to it, and writes their output under its assignment's epoch.
//!
//! ```text
//! worker --heartbeat every 1 s--> livefleet.fleet.heartbeat.<id> --> scheduler
//! scheduler --CAS--> KV livefleet_assignments --watch--> worker: start / stop channels
//! worker --fenced save per published segment--> KV livefleet_broadcast_state --> next worker (failover)
//! ```
//!
//! Fencing: a channel runs under `(worker, epoch)`. Its segment and init
//! file names carry the epoch, so a stale worker can never overwrite a file
//! the new one wrote; before each manifest update the worker waits for the
//! segments to be stored, checks that it still holds the assignment, and
//! saves the packager state; if it does not hold it any more it stops
//! without touching the manifests.

mod beat;
mod fenced;

pub use crate::failover_state::{
    BroadcastRecord, BroadcastStore, StateError, BROADCAST_STATE_BUCKET,
};
pub use beat::NodeCapacity;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use livefleet_base::ChannelName;
use livefleet_bus::ChannelRegistry;
use livefleet_fleet::{Assignment, Assignments, ChannelCost, Epoch, WorkerId};
use livefleet_storage::Storage;
use prometheus::Registry;

use crate::node::{ChannelRun, MakeSink, NodeBase, RunSpec, StartError, WorkerConfig};
use crate::sink::{OutputSink, WriterSink};
use fenced::FencedSink;

/// A channel this worker runs under an assignment.
struct Running {
    epoch: Epoch,
    cost: ChannelCost,
    run: ChannelRun,
}

/// Everything a fleet worker shares between its tasks.
struct Node {
    js: jetstream::Context,
    client: async_nats::Client,
    id: WorkerId,
    config: WorkerConfig,
    capacity: NodeCapacity,
    base: NodeBase,
    registry: ChannelRegistry,
    assignments: Assignments,
    store: BroadcastStore,
    draining: AtomicBool,
    sequence: AtomicU64,
}

/// How long a stopping node waits for the bus to take its last heartbeat: a
/// flush with the bus away waits for a reconnect, which held a worker's stop
/// until it was killed.
const FAREWELL_WITHIN: Duration = Duration::from_secs(2);
/// How long a stopping node waits for the archives it is making.
const ARCHIVE_DRAIN: std::time::Duration = std::time::Duration::from_secs(20);
/// The longest the fleet loop waits for the release of an ended broadcast's
/// assignment (a bus that went away answers only after the client's 10 s
/// request timeout, and a publish placed here meanwhile would end unseen).
const RELEASE_WITHIN: Duration = Duration::from_secs(4);

/// Runs a fleet worker until `shutdown` resolves. On shutdown its channels
/// stop without an ending; the scheduler moves them once heartbeats stop.
pub async fn run(
    client: async_nats::Client,
    js: jetstream::Context,
    config: WorkerConfig,
    capacity: NodeCapacity,
    storage: Arc<dyn Storage>,
    metrics_registry: Registry,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::PipelineError> {
    let id = WorkerId::new(config.id.clone())?;
    let span = tracing::info_span!("worker", node = %id);
    let _e = span.enter();
    let base = NodeBase::start(
        id.as_str(),
        storage,
        config.archive.clone(),
        &js,
        &metrics_registry,
    )
    .await?;
    let (registry, assignments, store) = loop {
        let opened = async {
            livefleet_bus::ensure_events_stream(&js).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                ChannelRegistry::open(&js).await?,
                Assignments::open(&js).await?,
                BroadcastStore::open(&js).await?,
            ))
        };
        match opened.await {
            Ok(v) => break v,
            Err(e) => {
                tracing::warn!(error = %e, "fleet buckets not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let node = Arc::new(Node {
        js,
        client,
        id,
        config,
        capacity,
        base,
        registry,
        assignments,
        store,
        draining: AtomicBool::new(false),
        sequence: AtomicU64::new(0),
    });
    let mut running: HashMap<ChannelName, Running> = HashMap::new();
    let checking = Arc::new(AtomicBool::new(false));
    let channels = Arc::new(std::sync::Mutex::new(Vec::new()));
    let beats = beat::spawn_heartbeats(node.clone(), channels.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    tracing::info!("fleet worker ready");
    // A bucket made again (a bus that lost its storage) leaves a watch deaf.
    let mut restored = livefleet_bus::bucket_restorations(livefleet_fleet::ASSIGNMENTS_BUCKET);
    'watch: loop {
        let mut watch = match node.assignments.watch_with_current().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch assignments; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = &mut shutdown => break 'watch,
                }
            }
        };
        loop {
            tokio::select! {
                change = watch.next() => match change {
                    Some(Ok(a)) => {
                        apply(&node, &mut running, a).await;
                        *channels.lock().unwrap_or_else(|e| e.into_inner()) = beat::advertised(&running);
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "assignment watch error"),
                    None => {
                        tracing::warn!("assignment watch ended; watching again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue 'watch;
                    }
                },
                () = restored.made_again() => {
                    tracing::warn!("the assignments bucket was made again; watching it again");
                    continue 'watch;
                }
                _ = tick.tick() => {
                    notice_deleted(&node, &running, &checking);
                    reap(&node, &mut running).await;
                    *channels.lock().unwrap_or_else(|e| e.into_inner()) = beat::advertised(&running);
                    if let Some(m) = &node.base.metrics { m.channels.set(running.len() as i64); }
                }
                _ = &mut shutdown => break 'watch,
            }
        }
    }
    tracing::info!(channels = running.len(), "fleet worker stopping");
    // Tell the scheduler at once, so it moves the channels without waiting for the heartbeat timeout.
    node.draining.store(true, Ordering::Relaxed);
    beats.abort();
    let farewell = async {
        beat::heartbeat(&node, beat::advertised(&running)).await;
        let _ = node.client.flush().await;
    };
    if tokio::time::timeout(FAREWELL_WITHIN, farewell)
        .await
        .is_err()
    {
        tracing::warn!("the bus did not take the last heartbeat; the scheduler moves the channels when the heartbeats stop");
    }
    for (_, r) in running.drain() {
        r.run.stop().await;
    }
    node.base.archiver.drain(ARCHIVE_DRAIN).await;
    Ok(())
}

/// Starts or stops a channel after an assignment change.
async fn apply(node: &Arc<Node>, running: &mut HashMap<ChannelName, Running>, a: Assignment) {
    let mine = a.worker.as_ref() == Some(&node.id);
    if let Some(r) = running.get(&a.channel) {
        if mine && r.epoch == a.epoch {
            return;
        }
        tracing::info!(channel = %a.channel, epoch = a.epoch, owner = ?a.worker.as_ref().map(|w| w.to_string()), "assignment changed; stopping the channel here");
        if let Some(r) = running.remove(&a.channel) {
            r.run.stop().await;
        }
    }
    if !mine {
        return;
    }
    match start(node, &a).await {
        Ok(r) => {
            running.insert(a.channel.clone(), r);
            node.base.started(true);
        }
        Err(e) => {
            tracing::error!(channel = %a.channel, epoch = a.epoch, error = %e, "cannot run the assigned channel; releasing it");
            node.base.started(false);
            let _ = node
                .assignments
                .release(
                    &a.channel,
                    a.epoch,
                    &format!("released by {}: {e}", node.id),
                )
                .await;
        }
    }
}

async fn start(node: &Arc<Node>, a: &Assignment) -> Result<Running, StartError> {
    let rec = node
        .registry
        .get(&a.channel)
        .await?
        .ok_or(StartError::NotRegistered)?;
    let record = node.store.load(&a.channel).await?;
    if let Some(r) = &record {
        tracing::info!(channel = %a.channel, from = %r.worker, from_epoch = r.epoch, next_segment = r.state.next_number, "continuing the broadcast");
    }
    let resume = node.base.continuation(&a.channel, record).await;
    let spec = RunSpec {
        timing: node.config.timing.clone(),
        generation: Some(a.epoch.min(u64::from(u32::MAX)) as u32),
        resume,
        fleet: true,
    };
    let fenced = Arc::new(AtomicBool::new(false));
    let (sink_node, channel, epoch) = (node.clone(), a.channel.clone(), a.epoch);
    let runtime = tokio::runtime::Handle::current();
    let make_sink: MakeSink = Box::new(move |writer| -> Box<dyn OutputSink> {
        let node = &sink_node;
        Box::new(FencedSink {
            inner: WriterSink::new(writer.clone(), format!("live/{channel}/")).archiving(
                node.base.archiver.clone(),
                channel.clone(),
                runtime.clone(),
            ),
            runtime: runtime.clone(),
            store: node.store.clone(),
            assignments: node.assignments.clone(),
            worker: node.id.clone(),
            channel: channel.clone(),
            epoch,
            fenced: fenced.clone(),
        })
    });
    let run = ChannelRun::start(&node.base, &node.js, &rec, spec, make_sink)?;
    let cost = ChannelCost::of(&run.profile, None);
    tracing::info!(channel = %a.channel, epoch = a.epoch, "running under the assignment");
    Ok(Running {
        epoch: a.epoch,
        cost,
        run,
    })
}

/// Channels deleted from the registry end their broadcast at once (ENDLIST);
/// `reap` then releases their assignments. The ingest ends their publish.
///
/// The registry is read on a task of its own, one check at a time: a bus
/// that is slow to answer (a cluster electing new leaders) must never hold
/// the loop that sends the heartbeats.
fn notice_deleted(
    node: &Arc<Node>,
    running: &HashMap<ChannelName, Running>,
    checking: &Arc<AtomicBool>,
) {
    let watched: Vec<(ChannelName, Epoch, Arc<AtomicBool>)> = running
        .iter()
        .filter(|(_, r)| !r.run.deleted.load(Ordering::Relaxed))
        .map(|(c, r)| (c.clone(), r.epoch, r.run.deleted.clone()))
        .collect();
    if watched.is_empty() || checking.swap(true, Ordering::AcqRel) {
        return;
    }
    let (node, checking) = (node.clone(), checking.clone());
    tokio::spawn(async move {
        for (channel, epoch, deleted) in watched {
            if let Ok(None) = node.registry.get(&channel).await {
                tracing::info!(%channel, epoch, "channel deleted from the registry; ending its broadcast");
                deleted.store(true, Ordering::Relaxed);
            }
        }
        checking.store(false, Ordering::Release);
    });
}

/// Channels whose broadcast ended: release their assignments.
async fn reap(node: &Arc<Node>, running: &mut HashMap<ChannelName, Running>) {
    let ended: Vec<ChannelName> = running
        .iter()
        .filter(|(_, r)| r.run.is_finished())
        .map(|(c, _)| c.clone())
        .collect();
    for channel in ended {
        let Some(r) = running.remove(&channel) else {
            continue;
        };
        r.run.end_forwarding();
        let reason = format!("broadcast ended on {}", node.id);
        let release = node.assignments.release(&channel, r.epoch, &reason);
        // Bounded: the loop must go on to the next assignment (a publish
        // placed here meanwhile) while the bus does not answer.
        match tokio::time::timeout(RELEASE_WITHIN, release).await {
            Ok(Ok(_)) => {
                tracing::info!(%channel, epoch = r.epoch, "broadcast ended; assignment released")
            }
            Ok(Err(e)) => {
                tracing::info!(%channel, epoch = r.epoch, error = %e, "broadcast ended; assignment already moved")
            }
            Err(_) => {
                tracing::warn!(%channel, epoch = r.epoch, "broadcast ended; the bus did not answer the release within {RELEASE_WITHIN:?}, left to the scheduler")
            }
        }
    }
}
