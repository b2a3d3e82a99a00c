//! Chat replay files: `live/<channel>/chat/<n>.json` holds the messages
//! stamped with segment `n` (deleted ones left out), as a JSON array in
//! media-time order, stored through the `Storage` trait so a CDN caches it
//! next to the segment.
//!
//! One relay writes them: the holder of the lease [`LEASE_KEY`] (any relay
//! can take over). The file of segment `n` is written when segment
//! `n + lag` closes, or shortly after the broadcast stops; relays stamp no
//! message into a segment whose file may be written (see [`timeline`]), and
//! a message or deletion that still reaches a written segment (a relay
//! that learnt of a segment late) rewrites its file.
//!
//! [`timeline`]: crate::timeline

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::DeliverPolicy};
use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::{now_unix_ms, ChannelName};
use livefleet_bus::{BroadcastState, ChannelEvent, SegmentEvent};
use livefleet_fleet::{Leadership, Lease};
use livefleet_storage::{ObjectMeta, Storage};
use tokio::sync::mpsc;

use crate::message::{ChatData, ChatMessage};
use crate::protocol::Publication;
use crate::relay::Relay;

/// The lease of the chat file writer.
pub const LEASE_KEY: &str = "chat-archive";
const LEASE_TTL: Duration = Duration::from_secs(6);
/// What a new writer reads back: messages and segments this recent.
const LOOK_BACK_MS: i64 = 10 * 60 * 1000;
/// After a broadcast stops, the last files wait this long for late messages.
const SETTLE: Duration = Duration::from_secs(2);
/// Written segments remembered per channel (for late messages and deletions).
const KEEP_WRITTEN: u64 = 128;

/// The key of segment `n`'s chat file.
pub fn file_key(channel: &ChannelName, n: u64) -> String {
    format!("live/{channel}/{}", livefleet_base::chat_replay_path(n))
}

/// Writes chat files while this relay holds the lease; runs until aborted.
pub async fn run(relay: Arc<Relay>, js: jetstream::Context, storage: Arc<dyn Storage>) {
    let mut lease = loop {
        match Lease::campaign_for(&js, LEASE_KEY, &relay.id, LEASE_TTL).await {
            Ok(l) => break l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot campaign for the chat archive lease; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    loop {
        if !lease.is_leader() {
            lease.changed().await;
            continue;
        }
        tracing::info!(relay = %relay.id, "writing the chat replay files");
        let mut standing = lease.subscribe();
        let writer = Writer::new(relay.clone(), storage.clone());
        tokio::select! {
            () = writer.run(&js) => {
                tracing::warn!("the chat file writer stopped; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            () = async { let _ = standing.wait_for(|l| !matches!(l, Leadership::Leader { .. })).await; } => {
                tracing::info!(relay = %relay.id, "no longer writing the chat replay files");
            }
        }
    }
}

enum Feed {
    Publication(ChannelName, Publication),
    /// The channel's history up to the top has been read.
    Ready(ChannelName),
}

#[derive(Default)]
struct ChannelFiles {
    ready: bool,
    segments: BTreeMap<u64, SegmentEvent>,
    /// Messages by stamped segment (offset, message).
    buckets: BTreeMap<u64, Vec<(u64, ChatMessage)>>,
    deleted: HashSet<String>,
    written: BTreeMap<u64, ()>,
    /// Write every remaining file at this moment (the broadcast stopped).
    flush_at: Option<Instant>,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ChannelFiles {
    fn drop(&mut self) {
        if let Some(f) = &self.follower {
            f.abort();
        }
    }
}

struct Writer {
    relay: Arc<Relay>,
    storage: Arc<dyn Storage>,
    channels: HashMap<ChannelName, ChannelFiles>,
    tx: mpsc::Sender<Feed>,
    rx: mpsc::Receiver<Feed>,
}

impl Writer {
    fn new(relay: Arc<Relay>, storage: Arc<dyn Storage>) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        Self {
            relay,
            storage,
            channels: HashMap::new(),
            tx,
            rx,
        }
    }

    async fn run(mut self, js: &jetstream::Context) {
        let events = match livefleet_bus::subscribe_events(js).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "the chat file writer cannot follow channel events");
                return;
            }
        };
        tokio::pin!(events);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                e = events.next() => {
                    let Some((channel, event)) = e else { return };
                    self.event(channel, event).await;
                }
                f = self.rx.recv() => {
                    let Some(f) = f else { return };
                    self.feed(f).await;
                }
                _ = tick.tick() => self.flush_due().await,
            }
        }
    }

    fn channel(&mut self, channel: &ChannelName) -> &mut ChannelFiles {
        if !self.channels.contains_key(channel) {
            let mut files = ChannelFiles::default();
            files.follower = Some(tokio::spawn(follow(
                self.relay.clone(),
                channel.clone(),
                self.tx.clone(),
            )));
            self.channels.insert(channel.clone(), files);
        }
        self.channels.get_mut(channel).expect("inserted")
    }

    async fn event(&mut self, channel: ChannelName, event: ChannelEvent) {
        let lag = self.relay.config.archive_lag_segments.max(1);
        match event {
            ChannelEvent::Segment(s) => {
                if s.end_ms() < now_unix_ms() - LOOK_BACK_MS {
                    return; // long written by an earlier writer
                }
                let files = self.channel(&channel);
                let newest = s.number;
                files.segments.insert(s.number, s);
                files.flush_at = None;
                let due: Vec<u64> = files
                    .segments
                    .keys()
                    .copied()
                    .filter(|n| n + lag <= newest && !files.written.contains_key(n))
                    .collect();
                self.write(&channel, &due).await;
            }
            ChannelEvent::Broadcast(b) if b.state == BroadcastState::Stopped => {
                if b.at_ms < now_unix_ms() - LOOK_BACK_MS {
                    return;
                }
                self.channel(&channel).flush_at = Some(Instant::now() + SETTLE);
            }
            ChannelEvent::Broadcast(_) | ChannelEvent::Refusal(_) => {}
        }
    }

    async fn feed(&mut self, feed: Feed) {
        match feed {
            Feed::Ready(channel) => {
                let Some(files) = self.channels.get_mut(&channel) else {
                    return;
                };
                files.ready = true;
                let lag = self.relay.config.archive_lag_segments.max(1);
                let newest = files.segments.keys().next_back().copied().unwrap_or(0);
                let due: Vec<u64> = files
                    .segments
                    .keys()
                    .copied()
                    .filter(|n| n + lag <= newest)
                    .collect();
                self.write(&channel, &due).await;
            }
            Feed::Publication(channel, p) => {
                let Some(files) = self.channels.get_mut(&channel) else {
                    return;
                };
                let rewrite = match serde_json::from_str::<ChatData>(p.data.get()) {
                    Ok(ChatData::Message(m)) => {
                        let Some(n) = m.segment else { return };
                        if files.deleted.contains(&m.id) {
                            return;
                        }
                        let bucket = files.buckets.entry(n).or_default();
                        if bucket.iter().any(|(o, _)| *o == p.offset) {
                            return;
                        }
                        bucket.push((p.offset, m));
                        files.written.contains_key(&n).then_some(n)
                    }
                    Ok(ChatData::Delete { id, .. }) => {
                        files.deleted.insert(id.clone());
                        let found = files.buckets.iter_mut().find_map(|(n, b)| {
                            let before = b.len();
                            b.retain(|(_, m)| m.id != id);
                            (b.len() != before).then_some(*n)
                        });
                        found.filter(|n| files.written.contains_key(n))
                    }
                    _ => None,
                };
                if let Some(n) = rewrite {
                    tracing::info!(%channel, segment = n, "a late message or deletion; rewriting the chat file");
                    self.write(&channel, &[n]).await;
                }
            }
        }
    }

    async fn flush_due(&mut self) {
        let now = Instant::now();
        let due: Vec<ChannelName> = self
            .channels
            .iter()
            .filter(|(_, f)| f.ready && f.flush_at.is_some_and(|at| at <= now))
            .map(|(c, _)| c.clone())
            .collect();
        for channel in due {
            let Some(files) = self.channels.get_mut(&channel) else {
                continue;
            };
            files.flush_at = None;
            let rest: Vec<u64> = files
                .segments
                .keys()
                .copied()
                .filter(|n| !files.written.contains_key(n))
                .collect();
            self.write(&channel, &rest).await;
        }
    }

    /// Writes the files of segments `numbers` of `channel` (once it is ready).
    async fn write(&mut self, channel: &ChannelName, numbers: &[u64]) {
        let Some(files) = self.channels.get_mut(channel) else {
            return;
        };
        if !files.ready || numbers.is_empty() {
            return;
        }
        for &n in numbers {
            let mut messages: Vec<(u64, ChatMessage)> =
                files.buckets.get(&n).cloned().unwrap_or_default();
            messages.retain(|(_, m)| !files.deleted.contains(&m.id));
            messages.sort_by_key(|(o, m)| (m.media_time, *o));
            let body: Vec<&ChatMessage> = messages.iter().map(|(_, m)| m).collect();
            let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_else(|_| b"[]".to_vec()));
            let key = file_key(channel, n);
            match self
                .storage
                .put(&key, bytes, ObjectMeta::for_key(&key))
                .await
            {
                Ok(()) => {
                    self.relay.metrics.files_written.inc();
                    files.written.insert(n, ());
                    tracing::debug!(%channel, segment = n, messages = body.len(), "chat file written");
                }
                Err(e) => {
                    self.relay.metrics.file_failures.inc();
                    tracing::warn!(%channel, segment = n, error = %e, "a chat file could not be stored; it is tried again at the next segment");
                }
            }
        }
        // Forget what is old enough that nothing can reach it any more.
        if let Some(&newest) = files.written.keys().next_back() {
            let keep_from = newest.saturating_sub(KEEP_WRITTEN);
            files.written = files.written.split_off(&keep_from);
            files.buckets = files.buckets.split_off(&keep_from);
            files.segments = files.segments.split_off(&keep_from);
        }
    }
}

/// Reads `channel`'s recent history, says it is ready, then follows it.
async fn follow(relay: Arc<Relay>, channel: ChannelName, tx: mpsc::Sender<Feed>) {
    let position = loop {
        match relay.history.position(&channel).await {
            Ok(p) => break p,
            Err(e) => {
                tracing::warn!(%channel, error = %e, "chat files: history not readable yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut recent = Vec::new();
    if position.last > 0 {
        let since = now_unix_ms() - LOOK_BACK_MS;
        let start = async_nats::datetime::from_nanos(i128::from(since) * 1_000_000)
            .map_or(DeliverPolicy::All, |t| DeliverPolicy::ByStartTime {
                start_time: t,
            });
        let scanned = relay
            .history
            .scan(
                &channel,
                start,
                |_, _, p| {
                    recent.push(p);
                    true
                },
                position.last,
            )
            .await;
        if let Err(e) = scanned {
            tracing::warn!(%channel, error = %e, "chat files: the recent history was not read; files may miss messages");
        }
    }
    for p in recent {
        if tx
            .send(Feed::Publication(channel.clone(), p))
            .await
            .is_err()
        {
            return;
        }
    }
    if tx.send(Feed::Ready(channel.clone())).await.is_err() {
        return;
    }
    // Followed again from the last offset whenever the stream ends.
    let mut last = position.last;
    loop {
        let live = match relay.history.follow(&channel, last).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(%channel, error = %e, "chat files: cannot follow the history yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        tokio::pin!(live);
        while let Some(p) = live.next().await {
            last = last.max(p.offset);
            if tx
                .send(Feed::Publication(channel.clone(), p))
                .await
                .is_err()
            {
                return;
            }
        }
        tracing::warn!(%channel, last, "chat files: the history stream ended; following again");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
