//! What another worker needs to continue a broadcast ([`PackagerState`]),
//! and the run-length coding of a track's segment list inside it.

use serde::{Deserialize, Serialize};

use crate::{manifest, rescale, Packager, PackagerError};

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
    /// Where the manifests' clocks start for segments no longer in `runs`
    /// (expired, see [`crate::PackagerConfig::expire_segments`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<Origin>,
}

/// The media time at which a track's segments from `number` on began: kept
/// for the start of each period (and of each part a hole splits off) once
/// the segments there are dropped from the history, so program date times
/// and DASH period offsets stay what they were.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub number: u64,
    pub start: i64,
}

/// Segments one track of a state may list (97 days of 2 s segments): what
/// a resumed packager allocates is bounded by it.
pub const MAX_STATE_SEGMENTS: u64 = 1 << 22;

/// The end of the year 9999 in Unix milliseconds: later wall clocks are not real.
const MAX_WALLCLOCK_MS: i64 = 253_402_300_799_999;
/// Media times beyond 2^50 ticks (about 400 years at 90 kHz) are not real,
/// and keep millisecond arithmetic on them far from overflow.
const MAX_MEDIA_TICKS: i64 = 1 << 50;

impl Packager {
    /// What another packager needs to continue this broadcast.
    pub fn state(&self) -> PackagerState {
        PackagerState {
            first_number: self.first_number,
            next_number: self.next_number.max(self.published.map_or(0, |p| p + 1)),
            init_generation: self.init_generation,
            periods: self.periods.clone(),
            tracks: self
                .tracks
                .iter()
                .map(|t| {
                    let listed: Vec<SegEntry> = t
                        .history
                        .iter()
                        .copied()
                        .filter(|e| self.published.is_some_and(|p| e.number <= p))
                        .collect();
                    TrackHistory {
                        name: t.spec.name.clone(),
                        timescale: t.spec.timescale,
                        runs: compress(&listed),
                        bytes: listed.iter().map(|e| e.bytes).sum(),
                        peak_bps: manifest::peak_bps(&listed, t.spec.timescale),
                        origins: t
                            .origins
                            .iter()
                            .map(|(&number, &start)| Origin { number, start })
                            .collect(),
                    }
                })
                .collect(),
            missing: self.missing.iter().cloned().collect(),
            retained_from: (self.retained_from > self.first_number).then_some(self.retained_from),
            ended: self.finished,
        }
    }
}

impl PackagerState {
    /// A new broadcast that numbers its segments from `next_number` and
    /// names its files with generation `free_generation` or above: for a
    /// channel whose earlier broadcasts left files in the store but no state
    /// to continue from, so no object key is written a second time.
    pub fn above(next_number: u64, free_generation: u32) -> Self {
        Self {
            first_number: next_number,
            next_number,
            init_generation: free_generation,
            ..Self::default()
        }
    }

    /// The next broadcast after this one as a presentation of its own:
    /// numbered from this one's next number, its files a generation above.
    pub fn next_broadcast(&self) -> Self {
        Self::above(self.next_number, self.init_generation.saturating_add(1))
    }

    /// Checks what a packager resumed from this state relies on (the state
    /// comes back from the bus, so it is outside input): numbering that
    /// only rises, segment runs that are ordered, positive and within
    /// [`MAX_STATE_SEGMENTS`], times that do not overflow.
    pub fn check(&self) -> Result<(), PackagerError> {
        let bad = |what: String| Err(PackagerError::State(what));
        if self.init_generation == u32::MAX {
            return bad("no file generation is left above the state's".into());
        }
        if self.next_number < self.first_number {
            return bad(format!(
                "next segment {} is below the first {}",
                self.next_number, self.first_number
            ));
        }
        if self
            .periods
            .windows(2)
            .any(|w| w[1].first_number < w[0].first_number)
        {
            return bad("periods out of order".into());
        }
        if let Some(p) = self
            .periods
            .iter()
            .find(|p| !(0..=MAX_WALLCLOCK_MS).contains(&p.wallclock_ms))
        {
            return bad(format!(
                "a period starts at {} ms of the Unix epoch",
                p.wallclock_ms
            ));
        }
        if let Some(p) = self
            .periods
            .iter()
            .find(|p| p.first_number > self.next_number)
        {
            return bad(format!(
                "a period starts at segment {}, past the next number {}",
                p.first_number, self.next_number
            ));
        }
        for t in &self.tracks {
            if t.timescale == 0 {
                return bad(format!("track {}: timescale 0", t.name));
            }
            let mut total = 0u64;
            // The number after the previous run, and its first start: a new
            // session may start a little before the last segment's estimated end.
            let mut next: Option<(u64, i64)> = None;
            for r in &t.runs {
                total += u64::from(r.count);
                let end_number = r.number.checked_add(u64::from(r.count));
                let end_start = i64::from(r.count)
                    .checked_mul(r.duration)
                    .and_then(|d| r.start.checked_add(d));
                let (Some(end_number), Some(end_start)) = (end_number, end_start) else {
                    return bad(format!("track {}: a run overflows", t.name));
                };
                if r.start < 0 || end_start > MAX_MEDIA_TICKS {
                    return bad(format!(
                        "track {}: a run from {} to {end_start} ticks",
                        t.name, r.start
                    ));
                }
                if r.count == 0 || r.duration <= 0 || total > MAX_STATE_SEGMENTS {
                    return bad(format!(
                        "track {}: a run of {} segments of {} ticks ({total} in all)",
                        t.name, r.count, r.duration
                    ));
                }
                if next.is_some_and(|(n, start)| r.number < n || r.start < start) {
                    return bad(format!("track {}: runs out of order", t.name));
                }
                if end_number > self.next_number {
                    return bad(format!(
                        "track {}: segment {} is past the next number {}",
                        t.name,
                        end_number - 1,
                        self.next_number
                    ));
                }
                next = Some((end_number, r.start));
            }
            if t.origins.len() as u64 > MAX_STATE_SEGMENTS
                || t.origins.windows(2).any(|w| w[1].number <= w[0].number)
            {
                return bad(format!("track {}: origins out of order", t.name));
            }
            if let Some(o) = t
                .origins
                .iter()
                .find(|o| !(0..=MAX_MEDIA_TICKS).contains(&o.start) || o.number > self.next_number)
            {
                return bad(format!(
                    "track {}: an origin at segment {}, {} ticks",
                    t.name, o.number, o.start
                ));
            }
        }
        Ok(())
    }

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
    /// The broadcast ended (its playlists have ENDLIST): what comes next is
    /// another broadcast, not this one continued after a failover.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
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
        // Bounded and free of overflow once `PackagerState::check` passed.
        for k in 0..u64::from(r.count) {
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
