//! What another worker needs to continue a broadcast ([`PackagerState`]),
//! and the run-length coding of a track's segment list inside it.

use serde::{Deserialize, Serialize};

use crate::rescale;

/// A period of the broadcast: the segments of one publish session (or of one
/// worker after a failover).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodState {
    pub first_number: u64,
    pub wallclock_ms: i64,
    /// Which init segments the period's segments need (0 = `init.mp4`).
    pub init_generation: u32,
    /// Which version of the generation's init segments: a new one each time
    /// the tracks' configuration changes ([`crate::Packager::reconfigure`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub init_version: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Consecutive segments of one track with the same duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRun {
    pub number: u64,
    pub start: i64,
    pub duration: i64,
    pub count: u32,
}

/// A track's segments so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackHistory {
    pub name: String,
    pub timescale: u32,
    pub runs: Vec<SegmentRun>,
    pub bytes: u64,
    pub peak_bps: u64,
}

impl PackagerState {
    /// End of the last listed segment, in `timescale` ticks (the media time
    /// at which a resumed broadcast continues).
    pub fn end_time(&self, timescale: u32) -> Option<i64> {
        self.tracks
            .iter()
            .filter_map(|t| {
                let r = t.runs.last()?;
                let end = r.start + r.duration * i64::from(r.count);
                Some(rescale(end, i64::from(t.timescale), i64::from(timescale)))
            })
            .max()
    }
}

/// What another worker needs to continue a broadcast: segment numbering,
/// periods and every track's segment list (for the playlists and the
/// live-to-VOD ending). Small: segment runs are run-length coded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackagerState {
    pub first_number: u64,
    pub next_number: u64,
    pub init_generation: u32,
    pub periods: Vec<PeriodState>,
    pub tracks: Vec<TrackHistory>,
    /// Segments listed but not stored (`<track>/<file>`), see [`crate::Packager::set_missing`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The lowest segment number still stored, when segments below it
    /// expired (see [`crate::PackagerConfig::expire_segments`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_from: Option<u64>,
}

/// A closed segment of one track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SegEntry {
    pub number: u64,
    pub start: i64,
    pub duration: i64,
    pub bytes: u64,
}

pub(crate) fn compress(entries: &[SegEntry]) -> Vec<SegmentRun> {
    let mut runs: Vec<SegmentRun> = Vec::new();
    for e in entries {
        if let Some(r) = runs.last_mut() {
            let next_number = r.number + u64::from(r.count);
            let next_start = r.start + r.duration * i64::from(r.count);
            if e.number == next_number
                && e.start == next_start
                && e.duration == r.duration
                && r.count < u32::MAX
            {
                r.count += 1;
                continue;
            }
        }
        runs.push(SegmentRun {
            number: e.number,
            start: e.start,
            duration: e.duration,
            count: 1,
        });
    }
    runs
}

pub(crate) fn expand(runs: &[SegmentRun]) -> Vec<SegEntry> {
    let mut out = Vec::new();
    for r in runs {
        // A state document is outside input: bound what it can make us allocate.
        for k in 0..u64::from(r.count.min(1_000_000)) {
            out.push(SegEntry {
                number: r.number + k,
                start: r.start + r.duration * k as i64,
                duration: r.duration,
                bytes: 0,
            });
        }
    }
    out
}
