//! Which worker runs which channel, under which epoch: the KV bucket
//! [`ASSIGNMENTS_BUCKET`].
//!
//! Each key is a channel name; its value is an [`Assignment`] as JSON. Values
//! change only by compare-and-set on the key's revision (`create` for a new
//! key, `update` with the revision read), so two writers that read the same
//! revision cannot both succeed. Every write raises the channel's epoch by
//! one, and keys are never deleted: releasing a channel writes an assignment
//! without a worker, so the epoch is never reused. A worker runs a channel
//! only while it [`holds`](Assignments::holds) the current epoch, and stamps
//! its output with it.

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::{now_unix_ms, ChannelName};
use serde::{Deserialize, Serialize};

use crate::kv::open_bucket;
use crate::{FleetError, WorkerId};

/// Name of the KV bucket that holds assignments.
pub const ASSIGNMENTS_BUCKET: &str = "livefleet_assignments";
/// Values kept per key: the audit trail of a channel's moves.
const HISTORY: i64 = 64;
/// Largest assignment value read; a real one is about 200 bytes.
const MAX_VALUE_BYTES: usize = 16 * 1024;

/// A channel's assignment generation. Starts at 1, raised by every write.
pub type Epoch = u64;

/// One channel's assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The channel (also the KV key).
    pub channel: ChannelName,
    /// The worker that runs it; `None` once released.
    pub worker: Option<WorkerId>,
    /// The generation of this assignment.
    pub epoch: Epoch,
    /// When it was written, Unix time in milliseconds.
    pub assigned_unix_ms: i64,
    /// Why: `placed`, `failover from gpu-a`, `released: ...`.
    pub reason: String,
}

/// An assignment with the KV revision it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentEntry {
    /// The value.
    pub assignment: Assignment,
    /// The key's revision, for the next compare-and-set.
    pub revision: u64,
}

fn decode(key: &str, value: &[u8]) -> Option<Assignment> {
    if value.len() > MAX_VALUE_BYTES {
        tracing::warn!(kv_key = key, "skipping an oversized assignment");
        return None;
    }
    match serde_json::from_slice::<Assignment>(value) {
        Ok(a) if a.channel.as_str() == key && a.epoch > 0 => Some(a),
        Ok(a) => {
            tracing::warn!(kv_key = key, channel = %a.channel, epoch = a.epoch, "skipping an assignment stored under another key or with epoch 0");
            None
        }
        Err(e) => {
            tracing::warn!(kv_key = key, "skipping an unreadable assignment: {e}");
            None
        }
    }
}

/// Changes of assignments, in order. See [`Assignments::watch`].
pub struct AssignmentWatch {
    watch: kv::Watch,
}

impl AssignmentWatch {
    /// The next assignment written; unreadable values are skipped with a
    /// warning. `None` when the watch ended.
    pub async fn next(&mut self) -> Option<Result<Assignment, FleetError>> {
        loop {
            let entry = match self.watch.next().await? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(FleetError::nats("watching assignments", e))),
            };
            if entry.operation != kv::Operation::Put {
                tracing::warn!(kv_key = %entry.key, "an assignment key was deleted; assignments are never deleted");
                continue;
            }
            if let Some(a) = decode(&entry.key, &entry.value) {
                return Some(Ok(a));
            }
        }
    }
}

/// The assignments bucket. Cheap to clone.
#[derive(Clone)]
pub struct Assignments {
    kv: kv::Store,
}

impl Assignments {
    /// Opens the bucket, creating it (file storage, history 64) if missing.
    pub async fn open(js: &jetstream::Context) -> Result<Assignments, FleetError> {
        let kv = open_bucket(
            js,
            ASSIGNMENTS_BUCKET,
            "livefleet channel assignments (channel -> worker, epoch)",
            HISTORY,
        )
        .await?;
        Ok(Assignments { kv })
    }

    /// The channel's assignment with its revision, `None` if it never had one.
    pub async fn entry(
        &self,
        channel: &ChannelName,
    ) -> Result<Option<AssignmentEntry>, FleetError> {
        let entry =
            self.kv.entry(channel.as_str()).await.map_err(|e| {
                FleetError::nats(format!("cannot read the assignment of {channel}"), e)
            })?;
        Ok(entry.and_then(|e| {
            if e.operation != kv::Operation::Put {
                return None;
            }
            decode(&e.key, &e.value).map(|assignment| AssignmentEntry {
                assignment,
                revision: e.revision,
            })
        }))
    }

    /// The channel's assignment, `None` if it never had one.
    pub async fn get(&self, channel: &ChannelName) -> Result<Option<Assignment>, FleetError> {
        Ok(self.entry(channel).await?.map(|e| e.assignment))
    }

    /// Assigns a channel that has no worker (never assigned, or released)
    /// to `worker`. Fails with [`FleetError::AlreadyAssigned`] if it has one,
    /// [`FleetError::Conflict`] if another writer won the race.
    pub async fn assign(
        &self,
        channel: &ChannelName,
        worker: &WorkerId,
        reason: &str,
    ) -> Result<Assignment, FleetError> {
        match self.entry(channel).await? {
            None => {
                // Never assigned, or its key was deleted by hand: start above
                // any epoch the key's history still shows.
                let epoch = self.highest_epoch(channel).await? + 1;
                let next = self.value(channel, Some(worker), epoch, reason);
                let bytes = encode(&next)?;
                match self.kv.create(channel.as_str(), bytes).await {
                    Ok(_) => Ok(next),
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                        Err(FleetError::Conflict {
                            channel: channel.clone(),
                            revision: 0,
                        })
                    }
                    Err(e) => Err(FleetError::nats(format!("cannot assign {channel}"), e)),
                }
            }
            Some(current) => match &current.assignment.worker {
                Some(holder) => Err(FleetError::AlreadyAssigned {
                    channel: channel.clone(),
                    worker: holder.to_string(),
                    epoch: current.assignment.epoch,
                }),
                None => self.write_next(&current, Some(worker), reason).await,
            },
        }
    }

    /// Moves a channel to `to_worker`, if its assignment is still at
    /// `from_epoch` (failover, drain). [`FleetError::StaleEpoch`] otherwise.
    pub async fn reassign(
        &self,
        channel: &ChannelName,
        from_epoch: Epoch,
        to_worker: &WorkerId,
        reason: &str,
    ) -> Result<Assignment, FleetError> {
        let current = self.current_at(channel, from_epoch).await?;
        self.write_next(&current, Some(to_worker), reason).await
    }

    /// Takes the channel off its worker, if its assignment is still at
    /// `epoch`. The epoch is raised, so the released worker is fenced.
    pub async fn release(
        &self,
        channel: &ChannelName,
        epoch: Epoch,
        reason: &str,
    ) -> Result<Assignment, FleetError> {
        let current = self.current_at(channel, epoch).await?;
        self.write_next(&current, None, reason).await
    }

    /// The fence: true only if `worker` holds the channel under `epoch` now.
    /// A worker checks this before it starts a channel and before each
    /// conditional write of its output.
    pub async fn holds(
        &self,
        channel: &ChannelName,
        worker: &WorkerId,
        epoch: Epoch,
    ) -> Result<bool, FleetError> {
        Ok(self
            .get(channel)
            .await?
            .is_some_and(|a| a.epoch == epoch && a.worker.as_ref() == Some(worker)))
    }

    /// Every readable assignment (released ones included), ordered by channel.
    pub async fn list(&self) -> Result<Vec<Assignment>, FleetError> {
        let what = "cannot list assignments";
        let mut keys = self
            .kv
            .keys()
            .await
            .map_err(|e| FleetError::nats(what, e))?;
        let mut channels = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| FleetError::nats(what, e))?;
            match ChannelName::new(key.as_str()) {
                Ok(c) => channels.push(c),
                Err(e) => tracing::warn!(kv_key = key, "skipping a bad assignment key: {e}"),
            }
        }
        channels.sort();
        let mut out = Vec::with_capacity(channels.len());
        for c in channels {
            if let Some(a) = self.get(&c).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The channel's kept history of assignments, oldest first (up to 64).
    pub async fn history(&self, channel: &ChannelName) -> Result<Vec<Assignment>, FleetError> {
        let what = || format!("cannot read the assignment history of {channel}");
        let mut history = self
            .kv
            .history(channel.as_str())
            .await
            .map_err(|e| FleetError::nats(what(), e))?;
        let mut out = Vec::new();
        while let Some(entry) = history.next().await {
            let entry = entry.map_err(|e| FleetError::nats(what(), e))?;
            if entry.operation == kv::Operation::Put {
                out.extend(decode(&entry.key, &entry.value));
            }
        }
        Ok(out)
    }

    /// Every assignment written from now on.
    pub async fn watch(&self) -> Result<AssignmentWatch, FleetError> {
        let watch = self
            .kv
            .watch_all()
            .await
            .map_err(|e| FleetError::nats("cannot watch assignments", e))?;
        Ok(AssignmentWatch { watch })
    }

    /// Like [`watch`](Self::watch), first giving the current assignment of
    /// every channel, so a starting process misses nothing.
    pub async fn watch_with_current(&self) -> Result<AssignmentWatch, FleetError> {
        let watch = self
            .kv
            .watch_with_history(">")
            .await
            .map_err(|e| FleetError::nats("cannot watch assignments", e))?;
        Ok(AssignmentWatch { watch })
    }

    async fn current_at(
        &self,
        channel: &ChannelName,
        epoch: Epoch,
    ) -> Result<AssignmentEntry, FleetError> {
        let current = self
            .entry(channel)
            .await?
            .ok_or_else(|| FleetError::NotAssigned(channel.clone()))?;
        if current.assignment.epoch != epoch {
            return Err(FleetError::StaleEpoch {
                channel: channel.clone(),
                given: epoch,
                current: current.assignment.epoch,
            });
        }
        Ok(current)
    }

    async fn highest_epoch(&self, channel: &ChannelName) -> Result<Epoch, FleetError> {
        Ok(self
            .history(channel)
            .await?
            .iter()
            .map(|a| a.epoch)
            .max()
            .unwrap_or(0))
    }

    fn value(
        &self,
        channel: &ChannelName,
        worker: Option<&WorkerId>,
        epoch: Epoch,
        reason: &str,
    ) -> Assignment {
        Assignment {
            channel: channel.clone(),
            worker: worker.cloned(),
            epoch,
            assigned_unix_ms: now_unix_ms(),
            reason: reason.chars().take(512).collect(),
        }
    }

    async fn write_next(
        &self,
        current: &AssignmentEntry,
        worker: Option<&WorkerId>,
        reason: &str,
    ) -> Result<Assignment, FleetError> {
        let channel = &current.assignment.channel;
        let next = self.value(
            channel,
            worker,
            current.assignment.epoch.saturating_add(1),
            reason,
        );
        match self
            .kv
            .update(channel.as_str(), encode(&next)?, current.revision)
            .await
        {
            Ok(_) => Ok(next),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                Err(FleetError::Conflict {
                    channel: channel.clone(),
                    revision: current.revision,
                })
            }
            Err(e) => Err(FleetError::nats(
                format!("cannot write the assignment of {channel}"),
                e,
            )),
        }
    }
}

fn encode(a: &Assignment) -> Result<Bytes, FleetError> {
    serde_json::to_vec(a)
        .map(Bytes::from)
        .map_err(|source| FleetError::Encode {
            what: format!("the assignment of {}", a.channel),
            source,
        })
}
