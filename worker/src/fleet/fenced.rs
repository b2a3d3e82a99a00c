//! The sink of a fleet channel: segments first, then (if this worker still
//! holds the channel) the packager state, then the manifests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use livefleet_base::ChannelName;
use livefleet_fleet::{Assignments, Epoch, WorkerId};
use livefleet_packager::{Output, PackagerState};

use crate::failover_state::{BroadcastRecord, BroadcastStore, FenceReason, SaveError};
use crate::sink::{OutputSink, SinkError, WriterSink};

/// Writes a fleet channel's output: segments first, then (if this worker
/// still holds the channel) the packager state, then the manifests.
pub(crate) struct FencedSink {
    pub inner: WriterSink,
    pub runtime: tokio::runtime::Handle,
    pub store: BroadcastStore,
    pub assignments: Assignments,
    pub worker: WorkerId,
    pub channel: ChannelName,
    pub epoch: Epoch,
    pub fenced: Arc<AtomicBool>,
}

impl FencedSink {
    fn fence(&self, why: FenceReason) -> SinkError {
        SinkError::Fenced {
            channel: self.channel.to_string(),
            epoch: self.epoch,
            why,
        }
    }

    fn check(&self) -> Result<(), SinkError> {
        if self.fenced.load(Ordering::Relaxed) {
            return Err(self.fence(FenceReason::EpochLost));
        }
        Ok(())
    }
}

impl OutputSink for FencedSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), SinkError> {
        self.check()?;
        self.inner.write(outputs)
    }

    fn missing_changed(&mut self) -> Option<Vec<String>> {
        self.inner.missing_changed()
    }

    fn settle(&mut self) {
        self.inner.settle();
    }

    /// Deletes only while the channel is ours: the state that let these
    /// expire was saved fenced, so the next holder never lists them.
    fn expire(&mut self, paths: Vec<String>) {
        if self.check().is_ok() {
            self.inner.expire(paths);
        }
    }

    fn sweep(&mut self, numbers: (u64, u64)) {
        if self.check().is_ok() {
            self.inner.sweep(numbers);
        }
    }

    /// Only the holder of the channel archives its broadcast.
    fn ended(&mut self, manifests: Vec<Output>, state: &PackagerState) {
        if self.check().is_ok() {
            self.inner.ended(manifests, state);
        }
    }

    fn write_published(
        &mut self,
        outputs: Vec<Output>,
        state: &PackagerState,
    ) -> Result<(), SinkError> {
        self.check()?;
        let (manifests, media): (Vec<Output>, Vec<Output>) =
            outputs.into_iter().partition(Output::is_manifest);
        self.inner.write(media)?;
        let writer = self.inner.writer.clone();
        let record = BroadcastRecord::now(
            self.channel.clone(),
            self.worker.to_string(),
            self.epoch,
            state,
        );
        let (store, assignments, worker, channel, epoch) = (
            self.store.clone(),
            self.assignments.clone(),
            self.worker.clone(),
            self.channel.clone(),
            self.epoch,
        );
        let verdict = self.runtime.block_on(async move {
            // The segments must be stored before the state says they are listed.
            writer.flush().await.map_err(SaveError::Flush)?;
            match assignments.holds(&channel, &worker, epoch).await {
                Ok(true) => {}
                Ok(false) => return Err(SaveError::Fenced(FenceReason::AssignmentMoved)),
                Err(e) => return Err(SaveError::Assignment(e)),
            }
            store.save(&record).await
        });
        match verdict {
            Ok(()) => {}
            Err(SaveError::Fenced(why)) => {
                self.fenced.store(true, Ordering::Relaxed);
                tracing::warn!(channel = %self.channel, epoch = self.epoch, %why, "fenced: leaving the manifests to the new owner");
                return Err(self.fence(why));
            }
            Err(e) => {
                // The bus is down: keep serving viewers; failover state is a little behind.
                tracing::warn!(channel = %self.channel, error = %e, "could not save the broadcast state");
            }
        }
        self.inner.write(manifests)
    }
}
