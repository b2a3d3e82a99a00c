//! `livefleet worker` without a scheduler: runs every live channel of the bus.
//!
//! Without a scheduler (`livefleet dev`, `livefleet worker --all-channels`),
//! one worker runs every channel of the registry: it
//! watches the registry, starts a channel when it appears (its media
//! subscription starts at the latest keyframe, so a worker started mid-stream
//! joins at once) and stops it when it is deleted. A channel whose thread
//! ended (a worker thread panicked, its broadcast could not start) is started
//! again, so the publisher's next session is transcoded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use livefleet_base::ChannelName;
use livefleet_bus::{ChannelChange, ChannelRecord, ChannelRegistry};
use livefleet_storage::Storage;
use prometheus::Registry;

use crate::failover_state::BroadcastStore;
use crate::kept_state::KeptStateSink;
use crate::node::{ChannelRun, MakeSink, NodeBase, RunSpec};
pub use crate::node::{WorkerConfig, WorkerMetrics};
use crate::sink::{OutputSink, WriterSink};

/// How often the node looks for channels whose thread ended (a worker
/// thread's panic stops a channel), to start them again.
const RESTART_CHECK: Duration = Duration::from_secs(2);

/// How long a stopping node waits for the archives it is making.
const ARCHIVE_DRAIN: Duration = Duration::from_secs(20);

/// Runs the worker until `shutdown` resolves; then ends every broadcast cleanly.
pub async fn run(
    js: jetstream::Context,
    config: WorkerConfig,
    storage: Arc<dyn Storage>,
    metrics_registry: Registry,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), crate::PipelineError> {
    let span = tracing::info_span!("worker", node = %config.id);
    let _e = span.enter();
    let base = NodeBase::start(
        &config.id,
        storage,
        config.archive.clone(),
        &js,
        &metrics_registry,
    )
    .await?;
    let (registry, store) = loop {
        let opened = async {
            livefleet_bus::ensure_events_stream(&js)
                .await
                .map_err(|e| e.to_string())?;
            let registry = ChannelRegistry::open(&js)
                .await
                .map_err(|e| e.to_string())?;
            let store = BroadcastStore::open(&js).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((registry, store))
        };
        match opened.await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, "channel registry or broadcast state not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let node = Standalone {
        base,
        js,
        config,
        store,
    };
    let mut running: HashMap<ChannelName, ChannelRun> = HashMap::new();
    // The registry's channels, to start again one whose thread ended.
    let mut records: HashMap<ChannelName, ChannelRecord> = HashMap::new();
    let mut supervise = tokio::time::interval(RESTART_CHECK);
    supervise.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    // A bucket made again (a bus that lost its storage) leaves a watch deaf.
    let mut restored = livefleet_bus::bucket_restorations(livefleet_bus::REGISTRY_BUCKET);
    'watch: loop {
        let mut watch = match registry.watch_with_current().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the channel registry; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = &mut shutdown => break 'watch,
                }
            }
        };
        loop {
            tokio::select! {
                change = watch.next() => match change {
                    Some(Ok(ChannelChange::Put(rec))) => {
                        running.retain(|_, r| !r.is_finished());
                        if !running.contains_key(&rec.name) {
                            start(&node, &rec, &mut running).await;
                        }
                        records.insert(rec.name.clone(), rec);
                    }
                    Some(Ok(ChannelChange::Deleted(name))) => {
                        records.remove(&name);
                        if let Some(r) = running.remove(&name) {
                            tracing::info!(channel = %name, "channel deleted; stopping it");
                            r.stop().await;
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "registry watch error"),
                    None => {
                        tracing::warn!("registry watch ended; watching again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue 'watch;
                    }
                },
                () = restored.made_again() => {
                    tracing::warn!("the channel registry was made again; watching it again");
                    continue 'watch;
                }
                _ = supervise.tick() => restart_ended(&node, &records, &mut running).await,
                _ = &mut shutdown => break 'watch,
            }
            if let Some(m) = &node.base.metrics {
                m.channels.set(running.len() as i64);
            }
        }
    }
    tracing::info!(
        channels = running.len(),
        "worker stopping; ending broadcasts"
    );
    for (_, r) in running.drain() {
        r.stop().await;
    }
    node.base.archiver.drain(ARCHIVE_DRAIN).await;
    Ok(())
}

/// What starting a channel needs.
struct Standalone {
    base: NodeBase,
    js: jetstream::Context,
    config: WorkerConfig,
    /// Each channel's broadcast record (`kept_state.rs`).
    store: BroadcastStore,
}

/// Starts `rec`'s channel, writing under `live/<channel>/`, from where its
/// last broadcast left the numbering (the record in the state bucket).
async fn start(
    node: &Standalone,
    rec: &ChannelRecord,
    running: &mut HashMap<ChannelName, ChannelRun>,
) {
    let record = match node.store.load(&rec.name).await {
        Ok(r) => r,
        Err(e) => {
            // Numbering from 0 could write a segment key a second time: wait for the bus.
            tracing::error!(channel = %rec.name, error = %e, "cannot read the channel's broadcast record; not starting it now");
            node.base.started(false);
            return;
        }
    };
    let epoch = record.as_ref().map_or(0, |r| r.epoch);
    if let Some(r) = &record {
        tracing::info!(channel = %rec.name, next_segment = r.state.next_number, "continuing the channel's numbering");
    }
    let resume = node.base.continuation(&rec.name, record).await;
    let spec = RunSpec {
        timing: node.config.timing.clone(),
        generation: None,
        resume,
        fleet: false,
    };
    let (archiver, prefix) = (node.base.archiver.clone(), format!("live/{}/", rec.name));
    let (channel, runtime) = (rec.name.clone(), tokio::runtime::Handle::current());
    let (store, id) = (node.store.clone(), node.config.id.clone());
    let make_sink: MakeSink = Box::new(move |writer| -> Box<dyn OutputSink> {
        let inner = WriterSink::new(writer.clone(), prefix.clone()).archiving(
            archiver.clone(),
            channel.clone(),
            runtime.clone(),
        );
        Box::new(KeptStateSink {
            inner,
            runtime: runtime.clone(),
            store: store.clone(),
            node: id.clone(),
            channel: channel.clone(),
            epoch,
        })
    });
    match ChannelRun::start(&node.base, &node.js, rec, spec, make_sink) {
        Ok(r) => {
            running.insert(rec.name.clone(), r);
            node.base.started(true);
        }
        Err(e) => {
            tracing::error!(channel = %rec.name, error = %e, "cannot run channel");
            node.base.started(false);
        }
    }
}

/// Starts again every channel of the registry whose thread ended.
async fn restart_ended(
    node: &Standalone,
    records: &HashMap<ChannelName, ChannelRecord>,
    running: &mut HashMap<ChannelName, ChannelRun>,
) {
    let ended: Vec<ChannelName> = running
        .iter()
        .filter(|(_, r)| r.is_finished())
        .map(|(c, _)| c.clone())
        .collect();
    for channel in ended {
        if let Some(r) = running.remove(&channel) {
            r.stop().await;
        }
        if let Some(rec) = records.get(&channel) {
            tracing::warn!(%channel, "the channel's thread ended; starting it again for the next publish");
            start(node, rec, running).await;
        }
    }
}
