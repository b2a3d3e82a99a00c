//! One track's record inside the packager: its spec, the open segment, the audio waiting for a boundary, and its history.

use std::collections::VecDeque;

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
            last_dts: None,
            last_delta: None,
            default_duration,
        })
    }

    pub(crate) fn is_video(&self) -> bool {
        matches!(self.spec.media, TrackMedia::Video { .. })
    }
}
