//! The channel events a worker publishes on the bus: each closed segment
//! (once per number, from the first video rendition to close it) and each
//! broadcast's start and stop. The chat relays key messages to them. A
//! publish session the worker gave up on is announced too: its ingest ends
//! that publish with the reason.

use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::jetstream;
use livefleet_base::{now_unix_ms, ChannelName};
use livefleet_bus::{BroadcastEvent, BroadcastState, ChannelEvent, PublishRefusal, SegmentEvent};
use livefleet_packager::ClosedSegment;

/// Where a channel's events go. Publishing never blocks the caller.
pub struct ChannelEvents {
    js: jetstream::Context,
    channel: ChannelName,
    runtime: tokio::runtime::Handle,
    /// The highest segment number published, plus one (0: none yet).
    next: AtomicU64,
}

impl std::fmt::Debug for ChannelEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelEvents")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl ChannelEvents {
    pub fn new(
        js: jetstream::Context,
        channel: ChannelName,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            js,
            channel,
            runtime,
            next: AtomicU64::new(0),
        }
    }

    fn publish(&self, event: ChannelEvent) {
        let _runtime = self.runtime.enter();
        livefleet_bus::publish_event(&self.js, &self.channel, &event);
    }

    /// Segments the packager closed: each number is announced once.
    pub fn segments_closed(&self, closed: &[ClosedSegment]) {
        for c in closed.iter().filter(|c| c.video) {
            let fresh = self.next.fetch_max(c.number + 1, Ordering::Relaxed) <= c.number;
            if fresh {
                self.publish(ChannelEvent::Segment(SegmentEvent {
                    number: c.number,
                    start_ms: c.program_date_ms,
                    duration_ms: (c.seconds * 1000.0).round() as i64,
                }));
            }
        }
    }

    /// A broadcast that began at `broadcast` (Unix ms) started or stopped.
    pub fn broadcast(&self, state: BroadcastState, broadcast: i64) {
        self.publish(ChannelEvent::Broadcast(BroadcastEvent {
            state,
            broadcast,
            at_ms: now_unix_ms(),
        }));
    }

    /// The worker gave up on publish `session` (the rest of it is ignored):
    /// its ingest ends the publish, telling the publisher `reason`.
    pub fn refused(&self, session: u32, reason: &str) {
        self.publish(ChannelEvent::Refusal(PublishRefusal::new(session, reason)));
    }
}
