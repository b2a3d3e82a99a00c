//! The scheduler's leader lease in the KV bucket [`LEADER_BUCKET`].
//!
//! Replicas campaign for one key. The leader renews it by compare-and-set
//! every `ttl / 3`; a follower takes it over only when the value's timestamp
//! is at least `ttl` old *and* the key's revision has not moved for at least
//! one renewal period as the follower itself observed it, and then only by
//! compare-and-set on the revision it read, so two replicas can never both
//! win one term. A leader that has not renewed for `2/3 ttl` (NATS
//! unreachable) steps down on its own, before anyone may take over.
//!
//! Leadership gates who *decides*; it does not make writes safe by itself (a
//! paused leader can wake up late). Every assignment write is a
//! compare-and-set with an epoch, which is what keeps two writers apart.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use livefleet_base::now_unix_ms;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::kv::open_bucket;
use crate::{FleetError, WorkerId};

/// Name of the KV bucket that holds the lease.
pub const LEADER_BUCKET: &str = "livefleet_leader";
const LEASE_KEY: &str = "scheduler";
const HISTORY: i64 = 16;
const MIN_POLL: Duration = Duration::from_millis(50);

/// The value of the lease key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The replica that holds it.
    pub holder: String,
    /// Raised by one at every change of holder.
    pub term: u64,
    /// Last renewal, Unix time in milliseconds (the holder's clock).
    pub renewed_unix_ms: i64,
    /// The lease time the holder uses, in milliseconds.
    pub ttl_ms: u64,
}

/// Where a replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// Another replica leads, or nobody yet.
    Follower,
    /// This replica leads, in `term`.
    Leader {
        /// The lease term.
        term: u64,
    },
}

/// A replica's campaign. It runs in a background task until the `Lease` is
/// dropped (then the lease lapses after `ttl`) or [`resign`](Lease::resign)ed
/// (then another replica can take over at once).
pub struct Lease {
    key: String,
    state: watch::Receiver<Leadership>,
    task: tokio::task::JoinHandle<()>,
    kv: kv::Store,
    replica: String,
    revision: watch::Receiver<Option<u64>>,
}

impl Lease {
    /// Starts campaigning as `replica_id` (same rules as a worker id) with
    /// lease time `ttl` (at least 300 ms). Returns at once; watch
    /// [`changed`](Self::changed) or [`is_leader`](Self::is_leader).
    pub async fn campaign(
        js: &jetstream::Context,
        replica_id: &str,
        ttl: Duration,
    ) -> Result<Lease, FleetError> {
        Self::campaign_for(js, LEASE_KEY, replica_id, ttl).await
    }

    /// Campaigns for the lease `key` (another role than the scheduler's, such
    /// as the chat archive writer), under the same rules.
    pub async fn campaign_for(
        js: &jetstream::Context,
        key: &str,
        replica_id: &str,
        ttl: Duration,
    ) -> Result<Lease, FleetError> {
        let replica = WorkerId::new(replica_id)?.to_string();
        let ttl = ttl.max(Duration::from_millis(300));
        let kv = open_bucket(
            js,
            LEADER_BUCKET,
            "livefleet leases (scheduler leader, chat archive writer)",
            HISTORY,
        )
        .await?;
        let (state_tx, state) = watch::channel(Leadership::Follower);
        let (revision_tx, revision) = watch::channel(None);
        let campaign = Campaign {
            kv: kv.clone(),
            key: key.to_owned(),
            replica: replica.clone(),
            ttl,
            state: state_tx,
            revision: revision_tx,
            held: None,
            seen: None,
        };
        let task = tokio::spawn(campaign.run());
        Ok(Lease {
            key: key.to_owned(),
            state,
            task,
            kv,
            replica,
            revision,
        })
    }

    /// True while this replica leads.
    pub fn is_leader(&self) -> bool {
        matches!(*self.state.borrow(), Leadership::Leader { .. })
    }

    /// The current standing.
    pub fn leadership(&self) -> Leadership {
        *self.state.borrow()
    }

    /// Waits for the standing to change and returns the new one. If the
    /// campaign task has died (it only ends by a panic), this logs an error
    /// and never returns: the replica stays a follower.
    pub async fn changed(&mut self) -> Leadership {
        if self.state.changed().await.is_err() {
            tracing::error!(replica = %self.replica, "the lease campaign ended; this replica will not lead again");
            return std::future::pending().await;
        }
        *self.state.borrow_and_update()
    }

    /// A receiver of the standing, for tasks that must stop when leadership ends.
    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.state.clone()
    }

    /// Stops campaigning; if leading, deletes the key (by compare-and-set)
    /// so another replica takes over without waiting for the lease to lapse.
    pub async fn resign(self) {
        self.task.abort();
        let revision = *self.revision.borrow();
        if let (true, Some(rev)) = (self.is_leader(), revision) {
            if let Err(e) = self.kv.delete_expect_revision(&self.key, Some(rev)).await {
                tracing::warn!(replica = %self.replica, "cannot hand over the scheduler lease: {e}");
            } else {
                tracing::info!(replica = %self.replica, "resigned the scheduler lease");
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Campaign {
    kv: kv::Store,
    key: String,
    replica: String,
    ttl: Duration,
    state: watch::Sender<Leadership>,
    revision: watch::Sender<Option<u64>>,
    /// While leading: (revision written, when, term).
    held: Option<(u64, Instant, u64)>,
    /// While following: (revision seen, when first seen).
    seen: Option<(u64, Instant)>,
}

impl Campaign {
    async fn run(mut self) {
        loop {
            let pause = if self.held.is_some() {
                self.renew().await;
                self.ttl / 3
            } else {
                self.try_take().await;
                (self.ttl / 10).max(MIN_POLL)
            };
            tokio::time::sleep(pause).await;
        }
    }

    fn record(&self, term: u64) -> Bytes {
        let rec = LeaseRecord {
            holder: self.replica.clone(),
            term,
            renewed_unix_ms: now_unix_ms(),
            ttl_ms: u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
        };
        Bytes::from(serde_json::to_vec(&rec).unwrap_or_default())
    }

    fn lead(&mut self, revision: u64, term: u64) {
        let first = self.held.is_none();
        self.held = Some((revision, Instant::now(), term));
        self.seen = None;
        self.revision.send_replace(Some(revision));
        if first {
            tracing::info!(replica = %self.replica, term, "leading the scheduler");
            self.state.send_replace(Leadership::Leader { term });
        }
    }

    fn follow(&mut self, why: &str) {
        if self.held.take().is_some() {
            tracing::warn!(replica = %self.replica, "lost the scheduler lease: {why}");
            self.state.send_replace(Leadership::Follower);
        }
        self.revision.send_replace(None);
    }

    async fn renew(&mut self) {
        let Some((revision, last_ok, term)) = self.held else {
            return;
        };
        match self.kv.update(&self.key, self.record(term), revision).await {
            Ok(next) => self.lead(next, term),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.follow("another replica took it over")
            }
            Err(e) => {
                if last_ok.elapsed() >= self.ttl * 2 / 3 {
                    self.follow(&format!("cannot renew it ({e})"));
                } else {
                    tracing::warn!(replica = %self.replica, "cannot renew the scheduler lease, retrying: {e}");
                }
            }
        }
    }

    async fn try_take(&mut self) {
        let entry = match self.kv.entry(&self.key).await {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(replica = %self.replica, "cannot read the scheduler lease: {e}");
                return;
            }
        };
        let (term, result) = match entry {
            None => (1, self.kv.create(&self.key, self.record(1)).await.ok()),
            Some(e) if e.operation != kv::Operation::Put => {
                // Resigned: take it at once, by compare-and-set on the marker.
                let term = self.highest_term().await + 1;
                let won = self
                    .kv
                    .update(&self.key, self.record(term), e.revision)
                    .await;
                (term, won.ok())
            }
            Some(e) => {
                let now = Instant::now();
                let first_seen = match self.seen {
                    Some((rev, at)) if rev == e.revision => at,
                    _ => {
                        self.seen = Some((e.revision, now));
                        now
                    }
                };
                let record = serde_json::from_slice::<LeaseRecord>(&e.value).ok();
                let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
                let unmoved = now.duration_since(first_seen);
                let stale = match &record {
                    Some(r) => {
                        now_unix_ms().saturating_sub(r.renewed_unix_ms) >= ttl_ms
                            && unmoved >= self.ttl / 3
                    }
                    // Unreadable: stale once it has not moved for a whole ttl.
                    None => unmoved >= self.ttl,
                };
                if !stale {
                    return;
                }
                let term = record.map(|r| r.term).unwrap_or(0).saturating_add(1);
                let won = self
                    .kv
                    .update(&self.key, self.record(term), e.revision)
                    .await;
                (term, won.ok())
            }
        };
        if let Some(revision) = result {
            self.lead(revision, term);
        }
    }

    /// The highest term in the key's kept history (after a resignation the
    /// current value is a delete marker).
    async fn highest_term(&self) -> u64 {
        use futures::StreamExt;
        let Ok(mut history) = self.kv.history(&self.key).await else {
            return 0;
        };
        let mut term = 0;
        while let Some(Ok(entry)) = history.next().await {
            if let Ok(r) = serde_json::from_slice::<LeaseRecord>(&entry.value) {
                term = term.max(r.term);
            }
        }
        term
    }
}
