//! The sink of a channel on a node without a scheduler (`livefleet dev`,
//! `livefleet worker --all-channels`): it keeps the channel's broadcast
//! record in the state bucket as a fleet worker does, without the fence (one
//! node runs every channel). A restarted node, or a channel started again
//! after its thread ended, continues from it: the numbering goes on and the
//! init generation goes up, so no segment key is written twice. Before, a
//! restart numbered from 0 again: a CDN served the earlier broadcast's
//! segments under the new playlists (they are cached as immutable), and S3
//! kept them (a segment is put with `If-None-Match: *`).
//!
//! The record is saved when a broadcast's packager starts, before anything
//! is written (a run that dies before its first segment still leaves its
//! generation behind, so the next run takes a higher one), and after each
//! segment is stored, before the manifests that name it.

use livefleet_base::ChannelName;
use livefleet_fleet::Epoch;
use livefleet_packager::{Output, PackagerState};

use crate::failover_state::{BroadcastRecord, BroadcastStore};
use crate::sink::{OutputSink, SinkError, WriterSink};

/// The longest a save may hold the packager up.
const SAVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) struct KeptStateSink {
    pub inner: WriterSink,
    pub runtime: tokio::runtime::Handle,
    pub store: BroadcastStore,
    pub node: String,
    pub channel: ChannelName,
    /// The epoch of the record this channel continued (0 for none): a
    /// fleet's record is continued, never fenced out.
    pub epoch: Epoch,
}

impl KeptStateSink {
    /// Saves `state`; a bus that cannot take it is logged (viewers are
    /// served; a restart then continues from an older record).
    fn save(&self, state: &PackagerState, flush: bool) {
        let record =
            BroadcastRecord::now(self.channel.clone(), self.node.clone(), self.epoch, state);
        let (store, writer) = (self.store.clone(), self.inner.writer.clone());
        if flush {
            // The segments must be stored before the record says they are
            // listed (the writer bounds its own retries).
            if let Err(e) = self.runtime.block_on(writer.flush()) {
                tracing::warn!(channel = %self.channel, error = %e, "segments not stored; the broadcast state is not saved");
                return;
            }
        }
        // A bus that does not answer holds the packager up for SAVE_WITHIN at most.
        let saved = self
            .runtime
            .block_on(async { tokio::time::timeout(SAVE_WITHIN, store.save(&record)).await });
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(channel = %self.channel, error = %e, "could not save the broadcast state")
            }
            Err(_) => tracing::warn!(
                channel = %self.channel,
                "the bus did not take the broadcast state within {SAVE_WITHIN:?}"
            ),
        }
    }
}

impl OutputSink for KeptStateSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), SinkError> {
        self.inner.write(outputs)
    }

    fn started(&mut self, state: &PackagerState) {
        self.save(state, false);
    }

    fn write_published(
        &mut self,
        outputs: Vec<Output>,
        state: &PackagerState,
    ) -> Result<(), SinkError> {
        let (manifests, media): (Vec<Output>, Vec<Output>) =
            outputs.into_iter().partition(Output::is_manifest);
        self.inner.write(media)?;
        self.save(state, true);
        self.inner.write(manifests)
    }

    fn missing_changed(&mut self) -> Option<Vec<String>> {
        self.inner.missing_changed()
    }

    fn settle(&mut self) {
        self.inner.settle();
    }

    fn expire(&mut self, paths: Vec<String>) {
        self.inner.expire(paths);
    }

    fn sweep(&mut self, numbers: (u64, u64)) {
        self.inner.sweep(numbers);
    }

    fn ended(&mut self, manifests: Vec<Output>, state: &PackagerState) {
        self.inner.ended(manifests, state);
    }
}
