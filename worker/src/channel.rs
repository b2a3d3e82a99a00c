//! A live channel on its own thread: its broadcasts, one after the other,
//! each across the publish sessions that come back within the grace period.
//!
//! A broadcast runs as long as its publisher does, and survives a reconnect
//! within the grace period: the new publish session continues the same
//! presentation after one discontinuity. When the grace period passes without
//! media, the broadcast ends (ENDLIST, static MPD). A later publish on the same
//! channel continues numbering from there, so no object key is written twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use livefleet_base::{now_unix_ms, ChannelName};
use livefleet_bus::BroadcastState;
use livefleet_packager::PackagerState;
use livefleet_profile::LadderProfile;

use crate::broadcast::{Broadcast, BroadcastConfig, Progress};
use crate::encoder::Selection;
use crate::feed::{LiveFeed, LiveSource, Recv};
use crate::sink::OutputSink;
use crate::status::StatusLog;
use crate::PipelineError;

/// Timing of a live channel.
#[derive(Debug, Clone)]
pub struct LiveTiming {
    /// How long a broadcast waits for its publisher to come back before it ends.
    pub grace: Duration,
    /// No media for this long ends a publish session (the publisher or its ingest vanished).
    pub idle_timeout: Duration,
    pub live_window: usize,
    pub dvr_window: Option<f64>,
    /// An HTTP time source players reach (the origin's `/time`), for the MPD's UTCTiming.
    pub utc_timing_url: Option<String>,
    /// How often the channel's status line is logged (`status.rs`); `None`: never.
    pub status_every: Option<Duration>,
}

impl Default for LiveTiming {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            live_window: 6,
            dvr_window: None,
            utc_timing_url: None,
            status_every: Some(Duration::from_secs(30)),
        }
    }
}

/// What a live channel runs with.
pub struct LiveChannel {
    pub channel: ChannelName,
    pub profile: LadderProfile,
    /// The node's encoder for this profile, and why not NVENC.
    pub encoder: Selection,
    pub timing: LiveTiming,
    pub progress: Arc<Progress>,
    /// File generation (the fleet assignment epoch); `None` outside a fleet.
    pub generation: Option<u32>,
    /// Where a previous worker left the broadcast (failover): its packager
    /// state and media end (90 kHz).
    pub resume: Option<(PackagerState, i64)>,
    /// Run under a fleet assignment: one broadcast, and a stop hands the
    /// channel to another worker instead of ending the broadcast.
    pub fleet: bool,
    /// Set when the channel was deleted: the broadcast ends as soon as its
    /// publish does, without waiting the grace period for the publisher.
    pub deleted: Arc<AtomicBool>,
    /// Delete segments once they left the live manifests: the node does not
    /// archive, so nothing else would (a 24/7 channel would fill the store).
    pub expire_segments: bool,
}

/// Runs a channel's broadcasts on the calling (dedicated, blocking) thread
/// until the feed closes or `stop` is set. Each broadcast ends after the grace
/// period without media.
pub fn run_channel(
    ch: &LiveChannel,
    mut feed: LiveFeed,
    make_sink: &dyn Fn() -> Box<dyn OutputSink>,
    stop: &AtomicBool,
) -> Result<(), PipelineError> {
    let span = tracing::info_span!("channel", channel = %ch.channel);
    let _e = span.enter();
    let _status = ch
        .timing
        .status_every
        .map(|every| StatusLog::start(every, ch.progress.clone(), span.clone()));
    let mut resume: Option<(PackagerState, i64)> = ch.resume.clone();
    // A failover continues a broadcast another worker started (and did not end).
    let mut continued = ch
        .resume
        .as_ref()
        .is_some_and(|(state, _)| ch.fleet && !state.ended && !state.periods.is_empty());
    while !stop.load(Ordering::Relaxed) && !feed.closed {
        // Wait (in short steps, to notice `stop`) for a publish session to start.
        let Some(source) = LiveSource::start(
            &mut feed,
            Duration::from_millis(500),
            ch.timing.idle_timeout,
        ) else {
            continue;
        };
        tracing::info!(session = source.session, "broadcast starts");
        let config = BroadcastConfig {
            label: ch.channel.to_string(),
            profile: ch.profile.clone(),
            encoder: ch.encoder.clone(),
            live_window: ch.timing.live_window,
            dvr_window: ch.timing.dvr_window,
            start_time_unix_ms: now_unix_ms(),
            generation: ch.generation,
            utc_timing_url: ch.timing.utc_timing_url.clone(),
            pace: crate::threads::Pace::RealTime,
            expire_segments: ch.expire_segments,
        };
        let started = config.start_time_unix_ms;
        if !std::mem::take(&mut continued) {
            announce(ch, BroadcastState::Started, started);
        }
        let broadcast = match resume.take() {
            Some((state, end)) => {
                Broadcast::resume(config, make_sink(), ch.progress.clone(), state, end)
            }
            None => Broadcast::new(config, make_sink(), ch.progress.clone()),
        };
        let mut broadcast = broadcast.inspect_err(|e| refuse(ch, source.session, e))?;
        let mut source = Some(source);
        loop {
            if let Some(mut s) = source.take() {
                let session = s.session;
                let meter = ch.progress.meter.as_ref();
                meter.inspect(|m| m.publishing(true));
                ch.progress.sessions.fetch_add(1, Ordering::Relaxed);
                ch.progress.publishing.start(s.first_frame_at);
                let ran = broadcast.run_session(&mut s);
                ch.progress.publishing.stop();
                meter.inspect(|m| m.publishing(false));
                match ran {
                    Ok(()) => {}
                    Err(e @ PipelineError::StagePanicked { .. }) => {
                        // A bug, not bad input: end the broadcast with what is stored and stop the
                        // channel's thread; the node starts the channel again for the next publish.
                        tracing::error!(session, error = %e, "publish session failed; the channel stops");
                        refuse(ch, session, &e);
                        let _ = broadcast.finish();
                        return Err(e);
                    }
                    Err(e) if e.is_fenced() => {
                        tracing::warn!(session, error = %e, "channel fenced; another worker continues it");
                        let _ = broadcast.abandon();
                        return Err(e);
                    }
                    Err(e) => {
                        tracing::error!(session, error = %e, "publish session failed; its publish is ended");
                        refuse(ch, session, &e);
                    }
                }
                tracing::info!(
                    session,
                    "publish session ended; waiting {:?} for the publisher to return",
                    ch.timing.grace
                );
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match wait_for_return(ch, &mut feed, stop) {
                Some(s) => {
                    tracing::info!(
                        session = s.session,
                        "publisher returned within the grace period; continuing the broadcast"
                    );
                    source = Some(s);
                }
                None => break,
            }
        }
        let end = broadcast.timeline_end_90k();
        if ch.fleet && stop.load(Ordering::Relaxed) {
            // Another worker continues (failover, drain): no ending, the manifests stay live.
            let _ = broadcast.abandon();
            tracing::info!("channel handed over; stopped without ending the broadcast");
            return Ok(());
        }
        match broadcast.finish() {
            Ok(state) => {
                tracing::info!("broadcast ended; live-to-VOD manifests written");
                announce(ch, BroadcastState::Stopped, started);
                // A node expires live segments exactly when it does not archive them.
                resume = Some(after_end(state, end, !ch.expire_segments));
            }
            Err(e) => tracing::error!(error = %e, "could not write the end of the broadcast"),
        }
        if ch.fleet {
            // The assignment is released; the next publish is placed again.
            return Ok(());
        }
    }
    Ok(())
}

/// Where a channel's broadcast starts from the state `state` (media end
/// `end`, 90 kHz) another run left. A broadcast that ended is followed by
/// another: archived, that one is a presentation of its own (numbered above,
/// a file generation up), so each VOD holds its broadcast alone and is named
/// by its own start; without the archive it continues the ended one's
/// presentation, so the window the ended one left expires under the new
/// window's rule (`docs/design/live-retention.md`). A broadcast that did not
/// end (a failover, a node restarted mid-broadcast) is continued.
pub(crate) fn after_end(state: PackagerState, end: i64, archived: bool) -> (PackagerState, i64) {
    if state.ended && archived {
        (state.next_broadcast(), 0)
    } else {
        (state, end)
    }
}

fn announce(ch: &LiveChannel, state: BroadcastState, broadcast: i64) {
    if let Some(events) = &ch.progress.events {
        events.broadcast(state, broadcast);
    }
}

/// The rest of a failed session is ignored (the feed waits for a new
/// configuration), so a publisher that went on would stream into nothing: its
/// ingest is told to end the publish, and the publisher sees why.
fn refuse(ch: &LiveChannel, session: u32, error: &PipelineError) {
    if let Some(events) = &ch.progress.events {
        events.refused(
            session,
            &format!("the worker stopped transcoding this publish: {error}"),
        );
    }
}

/// Waits up to the grace period (in short steps, to notice a stop or the
/// channel's deletion) for the publisher's next session.
fn wait_for_return<'f>(
    ch: &LiveChannel,
    feed: &'f mut LiveFeed,
    stop: &AtomicBool,
) -> Option<LiveSource<'f>> {
    let deadline = Instant::now() + ch.timing.grace;
    loop {
        if ch.deleted.load(Ordering::Relaxed) {
            tracing::info!("channel deleted; ending the broadcast now");
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stop.load(Ordering::Relaxed) || feed.closed {
            return None;
        }
        match feed.recv(left.min(Duration::from_millis(250))) {
            Recv::Packet(p) => {
                // Something came: let a session start from it, for the rest of the grace.
                feed.carry = Some(p);
                let left = deadline.saturating_duration_since(Instant::now());
                return LiveSource::start(feed, left, ch.timing.idle_timeout);
            }
            Recv::Timeout => {}
            Recv::Closed => return None,
        }
    }
}
