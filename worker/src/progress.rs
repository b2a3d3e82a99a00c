//! What a running broadcast counts, for progress bars, status lines and metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::events::ChannelEvents;
use crate::metrics::ChannelMeter;
use crate::video_path::VideoPath;

/// Counters a caller can watch while a broadcast runs (progress bars, status lines, metrics).
#[derive(Debug, Default)]
pub struct Progress {
    /// Media time reached by the decoder on the broadcast's timeline (every
    /// session of a broadcast continues it), in milliseconds.
    pub media_ms: AtomicU64,
    /// Media made across every session, in milliseconds: it never goes
    /// back, so a status window that holds several sessions adds them all.
    pub media_made_ms: AtomicU64,
    /// Declared duration of the input in milliseconds (0 = unknown / live).
    pub duration_ms: AtomicU64,
    pub frames_decoded: AtomicU64,
    /// Frames copied by the passthrough rendition (a ladder that only
    /// copies decodes its keyframes alone: `crate::session`).
    pub frames_copied: AtomicU64,
    pub segments_written: AtomicU64,
    pub corrupt_packets: AtomicU64,
    /// Media made by holding the last picture while the audio went on
    /// without video (`crate::hold`), in milliseconds.
    pub held_ms: AtomicU64,
    /// Publish sessions started (live channels).
    pub sessions: AtomicU64,
    /// Whether a publish session runs now, and for how long they have run
    /// (live channels).
    pub publishing: PublishClock,
    /// The channel's Prometheus series (live channels on a node; `None` for `transcode`).
    pub meter: Option<ChannelMeter>,
    /// Where segment and broadcast events go (live channels on a node).
    pub events: Option<ChannelEvents>,
    /// The video paths the broadcast ran on, in order, each with why no
    /// better path was taken (a change is a fallback after a GPU failure).
    pub paths: Mutex<Vec<(VideoPath, String)>>,
}

impl Progress {
    /// Frames of video the broadcast made: the decoded ones, or the copied
    /// ones where the ladder only copies the source.
    pub fn video_frames(&self) -> u64 {
        let decoded = self.frames_decoded.load(Ordering::Relaxed);
        decoded.max(self.frames_copied.load(Ordering::Relaxed))
    }

    /// A frame at `pts_90k` on the broadcast's timeline was decoded. The
    /// timeline goes on across sessions: a transcode that moved to the CPU
    /// after a GPU failure reaches the whole input's length, not its last
    /// session's. A new broadcast's first frame goes back to 0 and adds
    /// nothing to the media made.
    pub fn reach(&self, pts_90k: i64) {
        let reached = (pts_90k.max(0) / 90) as u64;
        let before = self.media_ms.swap(reached, Ordering::Relaxed);
        self.media_made_ms
            .fetch_add(reached.saturating_sub(before), Ordering::Relaxed);
    }

    /// A held picture at `pts_90k` (`crate::hold`): media made, counted apart.
    pub fn held(&self, pts_90k: i64) {
        let before = self.media_ms.load(Ordering::Relaxed);
        self.reach(pts_90k);
        let made = self.media_ms.load(Ordering::Relaxed).saturating_sub(before);
        self.held_ms.fetch_add(made, Ordering::Relaxed);
        if let Some(m) = &self.meter {
            m.frame_held();
        }
    }

    /// The video paths run so far.
    pub fn paths(&self) -> Vec<VideoPath> {
        let paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        paths.iter().map(|(p, _)| *p).collect()
    }
}

/// How long a channel's publish sessions have run, to the millisecond. A
/// status window reads its share as the time media could arrive in; sampled
/// once a second instead, a 5 s publish counted 4 s and read 1.24x.
#[derive(Debug, Default)]
pub struct PublishClock {
    /// Time of the sessions that ended, and when the running one started.
    state: Mutex<(Duration, Option<Instant>)>,
}

impl PublishClock {
    fn state(&self) -> std::sync::MutexGuard<'_, (Duration, Option<Instant>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session started running `at`.
    pub fn start(&self, at: Instant) {
        let mut s = self.state();
        s.1.get_or_insert(at);
    }

    /// The running session ends.
    pub fn stop(&self) {
        let mut s = self.state();
        if let Some(since) = s.1.take() {
            s.0 += since.elapsed();
        }
    }

    /// Whether a session runs now.
    pub fn running(&self) -> bool {
        self.state().1.is_some()
    }

    /// Time every session has run so far, the running one included.
    pub fn total(&self) -> Duration {
        let s = self.state();
        s.0 + s.1.map(|since| since.elapsed()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publish_clock_adds_every_session_from_its_first_frame() {
        let clock = PublishClock::default();
        assert!(!clock.running());
        let first_frame = Instant::now() - Duration::from_millis(400);
        clock.start(first_frame);
        assert!(clock.running() && clock.total() >= Duration::from_millis(400));
        clock.stop();
        let one = clock.total();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.total(), one, "no time counts between sessions");
        clock.start(Instant::now() - Duration::from_millis(100));
        clock.stop();
        assert!(clock.total() >= one + Duration::from_millis(100));
        assert!(!clock.running());
    }
}
