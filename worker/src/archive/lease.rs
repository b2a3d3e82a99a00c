//! A broadcast's record as the lease on its archive. The node that holds
//! the archive (copying, or waiting to delete the live copy) writes the
//! record only at the revision it last wrote; a write that finds another
//! revision means another node took the archive over, and this one stops.
//! Bus errors are retried and then let pass: a node keeps archiving through
//! a short bus outage, and the worst a stale record causes is a second,
//! identical copy by a node that took it for orphaned. A record that is gone
//! (a bus that lost its storage) or was rebuilt from the store is written
//! again: neither is another node's claim.

use std::time::Duration;

use livefleet_base::now_unix_ms;
use livefleet_bus::{ArchivedBroadcast, BroadcastIndex};

/// Attempts per write while the bus answers with errors.
const ATTEMPTS: u32 = 5;
/// The wait after the first failed write; doubled after each.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Whether this node still holds the archive after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    Held,
    /// Another node wrote the record since: the archive is its now.
    Lost,
}

/// A record and the revision this node last wrote.
pub(super) struct Lease {
    index: Option<BroadcastIndex>,
    pub record: ArchivedBroadcast,
    /// `None` until a write went through.
    revision: Option<u64>,
}

impl Lease {
    /// The record of a broadcast that just ended here, written as it is.
    pub async fn create(index: Option<BroadcastIndex>, record: ArchivedBroadcast) -> Lease {
        let mut lease = Lease {
            index,
            record,
            revision: None,
        };
        lease.write().await;
        lease
    }

    /// A record read at `revision` that `node` takes over; nothing is
    /// written yet (the first [`Lease::write`] claims it).
    pub fn take(
        index: BroadcastIndex,
        mut record: ArchivedBroadcast,
        revision: u64,
        node: &str,
    ) -> Lease {
        record.owner = Some(node.to_owned());
        Lease {
            index: Some(index),
            record,
            revision: Some(revision),
        }
    }

    /// Writes the record, its `updated_ms` set to now (the heartbeat).
    pub async fn write(&mut self) -> Hold {
        let Some(index) = self.index.clone() else {
            return Hold::Held;
        };
        self.record.updated_ms = now_unix_ms();
        let mut backoff = FIRST_BACKOFF;
        let mut failed = false;
        for attempt in 1..=ATTEMPTS {
            let result = match self.revision {
                Some(revision) => index.update(&self.record, revision).await,
                None => index.put(&self.record).await.map(Some),
            };
            match result {
                Ok(Some(revision)) => {
                    self.revision = Some(revision);
                    return Hold::Held;
                }
                Ok(None) => match index.get(&self.record.channel, &self.record.id).await {
                    // A write whose answer was lost may have gone through.
                    Ok(Some((stored, revision))) if failed && stored == self.record => {
                        self.revision = Some(revision);
                        return Hold::Held;
                    }
                    // Rebuilt from the store: no node's lease, and this
                    // node's record says more (the exact end, the owner).
                    Ok(Some((stored, revision))) if stored.rebuilt_ms.is_some() => {
                        tracing::info!(broadcast = %self.record.id, "the archive record was rebuilt from the store meanwhile; writing this node's over it");
                        self.revision = Some(revision);
                    }
                    // Gone: the bus lost its storage (no node deletes a
                    // record), so nobody holds the archive but this node.
                    Ok(None) => {
                        tracing::warn!(broadcast = %self.record.id, "the archive record is gone from the bus (did the bus lose its storage?); writing it again");
                        self.revision = None;
                    }
                    _ => return Hold::Lost,
                },
                Err(e) => {
                    failed = true;
                    tracing::warn!(broadcast = %self.record.id, attempt, error = %e, "cannot write the archive record");
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                }
            }
        }
        tracing::warn!(broadcast = %self.record.id, "the archive record is not current on the bus; the archive goes on");
        Hold::Held
    }
}
