//! One track's record inside the packager: its spec, the open segment, the audio waiting for a boundary, and its history.

use std::collections::{BTreeMap, VecDeque};

use crate::{PackagerError, Sample, SegEntry, TrackMedia, TrackSpec};

pub(crate) struct OpenSegment {
    pub number: u64,
    pub samples: Vec<Sample>,
    pub bytes: usize,
}

pub(crate) struct Track {
    pub spec: TrackSpec,
    pub codecs: String,
    pub open: Option<OpenSegment>,
    /// Audio waiting for the boundary that ends its segment.
    pub pending: VecDeque<Sample>,
    pub pending_bytes: usize,
    pub history: Vec<SegEntry>,
    /// Media start of the segments from a number on, for period and part
    /// starts whose segments left `history` (see [`crate::Origin`]).
    pub origins: BTreeMap<u64, i64>,
    pub last_dts: Option<i64>,
    pub last_delta: Option<i64>,
    pub default_duration: i64,
}

impl Track {
    pub(crate) fn new(spec: TrackSpec) -> Result<Self, PackagerError> {
        if spec.timescale == 0 {
            return Err(PackagerError::Config(format!(
                "track {}: timescale 0",
                spec.name
            )));
        }
        let safe = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if spec.name.is_empty() || !spec.name.chars().all(safe) {
            return Err(PackagerError::Config(format!(
                "track name {:?} is not URL-safe ([a-z0-9_-])",
                spec.name
            )));
        }
        let (codecs, default_duration) = match &spec.media {
            TrackMedia::Video {
                codec, frame_rate, ..
            } => {
                let d = frame_rate
                    .filter(|(n, d)| *n > 0 && *d > 0)
                    .map(|(n, d)| i64::from(spec.timescale) * i64::from(d) / i64::from(n))
                    .unwrap_or(i64::from(spec.timescale) / 30);
                (codec.codec_string(), d.max(1))
            }
            TrackMedia::Audio { codec } => (codec.codec_string(), 1024),
        };
        Ok(Self {
            spec,
            codecs,
            open: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            history: Vec::new(),
            origins: BTreeMap::new(),
            last_dts: None,
            last_delta: None,
            default_duration,
        })
    }

    /// The media time at which this track's segments from `number` on
    /// begin: its first segment at or after `number`, or, where that left
    /// the history, the time kept when it did.
    pub(crate) fn start_from(&self, number: u64) -> Option<i64> {
        if let Some(start) = self.origins.get(&number) {
            return Some(*start);
        }
        let i = self.history.partition_point(|e| e.number < number);
        self.history.get(i).map(|e| e.start)
    }

    /// Drops the segments below `keep` from the history, first keeping the
    /// start of every number in `starts` that goes with them.
    pub(crate) fn trim(&mut self, keep: u64, starts: &[u64]) {
        let cut = self.history.partition_point(|e| e.number < keep);
        if cut == 0 {
            return;
        }
        for &n in starts {
            if n >= keep || self.origins.contains_key(&n) {
                continue;
            }
            let i = self.history.partition_point(|e| e.number < n);
            if i < cut {
                self.origins.insert(n, self.history[i].start);
            }
        }
        self.history.drain(..cut);
    }

    pub(crate) fn is_video(&self) -> bool {
        matches!(self.spec.media, TrackMedia::Video { .. })
    }
}
