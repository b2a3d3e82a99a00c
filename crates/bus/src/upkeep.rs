//! Keeps the streams a process uses present on the bus. A NATS server that
//! lost its storage (restarted without its volume, its JetStream directory
//! deleted) comes back without the KV buckets and streams livefleet made,
//! and every call on them then fails with "stream not found": the scheduler
//! waited for a lease it could never read, a worker could neither read its
//! assignments nor record an archive, until each process was restarted.
//!
//! Every stream made ready through [`crate::replication::ensure_stream`] is remembered
//! here with its configuration, once it is there. A long-running process starts
//! [`spawn_upkeep`] once; every [`CHECK_EVERY`] it asks for each stream it
//! uses and creates a missing one again, as it was first made. The data
//! that was in it is gone with the server's storage (the channel registry
//! among it: channels are created again by the operator); what the
//! processes write from then on is kept.
//!
//! A watch on a stream that was deleted and made again (by this process or
//! another) hears nothing more, so [`restorations`] tells the loops that
//! hold one when their stream was made again (seen by its creation time),
//! and they watch again.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use tokio::sync::watch;

use crate::StreamKind;

/// How often the streams are looked for.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The streams this process made ready, by name.
static USED: Mutex<BTreeMap<String, (stream::Config, StreamKind)>> = Mutex::new(BTreeMap::new());

/// How many times each stream this process uses was seen made again.
static RESTORED: OnceLock<watch::Sender<BTreeMap<String, u64>>> = OnceLock::new();

fn restored() -> &'static watch::Sender<BTreeMap<String, u64>> {
    RESTORED.get_or_init(|| watch::channel(BTreeMap::new()).0)
}

/// Tells a loop holding a watch on one stream when that stream was made
/// again (by this process or another): the watch hears nothing more.
pub struct Restorations {
    rx: watch::Receiver<BTreeMap<String, u64>>,
    stream: String,
    seen: u64,
}

/// Restorations of the stream `stream` from now on.
pub fn restorations(stream: &str) -> Restorations {
    let rx = restored().subscribe();
    let seen = rx.borrow().get(stream).copied().unwrap_or(0);
    Restorations {
        rx,
        stream: stream.to_owned(),
        seen,
    }
}

/// Restorations of the KV bucket `bucket`.
pub fn bucket_restorations(bucket: &str) -> Restorations {
    restorations(&format!("KV_{bucket}"))
}

impl Restorations {
    /// Returns once the stream was made again since the last return
    /// (cancel-safe: a restoration is not lost by a dropped call).
    pub async fn made_again(&mut self) {
        loop {
            let now = self
                .rx
                .borrow_and_update()
                .get(&self.stream)
                .copied()
                .unwrap_or(0);
            if now != self.seen {
                self.seen = now;
                return;
            }
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Remembers a stream this process made ready (with the configuration it
/// asked for, before its replicas were set: they are chosen again when it
/// is made again).
pub(crate) fn remember(config: &stream::Config, kind: StreamKind) {
    let mut used = USED.lock().unwrap_or_else(|p| p.into_inner());
    used.entry(config.name.clone())
        .or_insert_with(|| (config.clone(), kind));
}

/// Looks for every stream this process uses every [`CHECK_EVERY`] and
/// makes a missing one again; runs until the task is dropped.
pub fn spawn_upkeep(js: jetstream::Context) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut created = BTreeMap::new();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            restore_missing(&js, &mut created).await;
        }
    })
}

/// Makes every remembered stream the server says it does not have again,
/// and tells [`restorations`] when one was made again since the last call
/// (`created`: each stream's creation time as last seen).
async fn restore_missing(
    js: &jetstream::Context,
    created: &mut BTreeMap<String, async_nats::datetime::DateTime>,
) {
    let used: Vec<(stream::Config, StreamKind)> = USED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    let mut renewed = Vec::new();
    for (config, kind) in used {
        let name = config.name.clone();
        match js.get_stream(&name).await {
            Ok(stream) => {
                let at = stream.cached_info().created;
                if created
                    .insert(name.clone(), at)
                    .is_some_and(|before| before != at)
                {
                    tracing::info!(stream = %name, "the stream was made again on the bus");
                    renewed.push(name);
                }
            }
            Err(e) if crate::replication::stream_not_found(&e) => {
                match crate::replication::ensure_stream(js, config, kind).await {
                    Ok(_) => {
                        tracing::warn!(stream = %name, "the stream was gone from the bus (a NATS server that lost its storage?); made it again, empty");
                        created.remove(&name);
                        renewed.push(name);
                    }
                    Err(e) => {
                        tracing::warn!(stream = %name, error = %e, "the stream is gone from the bus and cannot be made again yet")
                    }
                }
            }
            // Any other error (no answer, a cluster electing) says nothing about the stream.
            Err(_) => {}
        }
    }
    if !renewed.is_empty() {
        restored().send_modify(|counts| {
            for name in renewed {
                *counts.entry(name).or_default() += 1;
            }
        });
    }
}
