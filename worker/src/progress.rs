//! What a running broadcast counts, for progress bars, status lines and metrics.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use crate::events::ChannelEvents;
use crate::metrics::ChannelMeter;
use crate::video_path::VideoPath;

/// Counters a caller can watch while a broadcast runs (progress bars, status lines, metrics).
#[derive(Debug, Default)]
pub struct Progress {
    /// Media time reached by the decoder, in milliseconds.
    pub media_ms: AtomicU64,
    /// Declared duration of the input in milliseconds (0 = unknown / live).
    pub duration_ms: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub segments_written: AtomicU64,
    pub corrupt_packets: AtomicU64,
    /// Publish sessions started (live channels).
    pub sessions: AtomicU64,
    /// Whether a publish session runs now (live channels).
    pub publishing: AtomicBool,
    /// The channel's Prometheus series (live channels on a node; `None` for `transcode`).
    pub meter: Option<ChannelMeter>,
    /// Where segment and broadcast events go (live channels on a node).
    pub events: Option<ChannelEvents>,
    /// The video paths the broadcast ran on, in order, each with why no
    /// better path was taken (a change is a fallback after a GPU failure).
    pub paths: Mutex<Vec<(VideoPath, String)>>,
}

impl Progress {
    /// The video paths run so far.
    pub fn paths(&self) -> Vec<VideoPath> {
        let paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        paths.iter().map(|(p, _)| *p).collect()
    }
}
