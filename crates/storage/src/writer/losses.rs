//! What a writer could not store, shared with whoever renders manifests.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What a writer could not store: the keys of the segments (and init
/// segments) given up and not stored since, and how many segment losses
/// there have been (a count that only rises, for [`Put::naming_as_of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingObjects {
    /// Segment losses since the writer started.
    pub lost: u64,
    /// Keys not stored now, sorted.
    pub keys: Vec<String>,
}

#[derive(Debug, Default)]
pub(super) struct Losses {
    pub(super) state: Mutex<LossState>,
    /// Bumped on every change of `state`, so readers can skip unchanged reads.
    pub(super) version: AtomicU64,
}

#[derive(Debug, Default)]
pub(super) struct LossState {
    pub(super) lost: u64,
    pub(super) missing: BTreeSet<String>,
}

impl Losses {
    pub(super) fn lost(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).lost
    }

    pub(super) fn record_loss(&self, key: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.lost += 1;
        state.missing.insert(key.to_owned());
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Records the loss of `key` unless it is missing already; whether it was new.
    pub(super) fn record_loss_once(&self, key: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.missing.insert(key.to_owned()) {
            return false;
        }
        state.lost += 1;
        self.version.fetch_add(1, Ordering::Release);
        true
    }

    /// `key` was deleted (an expired segment): no longer missing. Whether it was.
    pub(super) fn forget(&self, key: &str) -> bool {
        self.record_stored(key)
    }

    /// Whether `key` was missing (and is no more).
    pub(super) fn record_stored(&self, key: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let was = state.missing.remove(key);
        if was {
            self.version.fetch_add(1, Ordering::Release);
        }
        was
    }
}
