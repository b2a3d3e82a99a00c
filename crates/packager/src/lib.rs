//! The livefleet packager: encoded samples in, CMAF files and manifests out.
//!
//! The worker's encoder threads hand every rendition's samples to one
//! [`Packager`] per channel. It cuts them into CMAF segments (one track per
//! file), and when a segment number is closed in every rendition it rewrites
//! the HLS media playlists and the DASH MPD, which name the very same files:
//!
//! ```text
//! master.m3u8              written with the first playlists
//! manifest.mpd             dynamic while live, static after `finish`
//! <track>/init.mp4         ftyp + moov (init-<g>.mp4 after a failover)
//! <track>/<n>.m4s          styp + moof + mdat, n counts up across the broadcast
//! <track>/index.m3u8       version 7, EXT-X-MAP, PROGRAM-DATE-TIME
//! ```
//!
//! The crate is sans-IO: it never touches files, sockets or clocks. Every
//! call returns the [`Output`]s to store, in the order to store them (a
//! segment always before the playlist that names it).
//!
//! Segmentation: a video sample flagged `segment_start` (a keyframe the
//! worker forced at the same instant in every rendition) starts a segment.
//! The first video track fixes the boundary time; audio is cut at the first
//! audio sample at or after it. [`Packager::discontinuity`] ends a publish
//! session: open segments close, the next one starts a new period (HLS
//! EXT-X-DISCONTINUITY, a new DASH Period). [`Packager::state`] is what
//! another worker needs to continue the broadcast ([`Packager::resume`]).

pub mod annexb;
mod audio;
mod bits;
mod error;
mod expiry;
mod manifest;
mod model;
mod mp4;
mod names;
mod segment;
mod session;
mod state;
pub mod storyboard;
mod time;
mod track;
mod video;

pub use audio::AudioConfig;
pub use error::PackagerError;
pub use model::{
    square_pixel_width, CacheClass, CaptionService, ClosedSegment, Output, PackagerConfig, Sample,
    TrackId, TrackMedia, TrackSpec, Turn, VideoRange,
};
pub use names::{file_generation, segment_number};
use names::{init_name, segment_name};
pub(crate) use state::{expand, SegEntry};
pub use state::{Origin, PackagerState, PeriodState, SegmentRun, TrackHistory, MAX_STATE_SEGMENTS};
use track::{OpenSegment, Track};
pub use video::av1;
pub use video::{parse_avcc, parse_hvcc, parse_sps, SpsInfo, VideoCodec, VideoCodecConfig};

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Largest media segment the packager builds before refusing samples.
pub const MAX_SEGMENT_BYTES: usize = 256 << 20;
/// Skipped segment numbers remembered (a rendition that keeps missing boundaries).
const MAX_SKIPPED: usize = 1024;
/// Largest amount of audio held while waiting for a video boundary.
const MAX_PENDING_BYTES: usize = 32 << 20;

/// Cuts one broadcast's samples into CMAF segments and keeps its manifests.
pub struct Packager {
    pub(crate) config: PackagerConfig,
    pub(crate) tracks: Vec<Track>,
    /// The first video track: its segment starts are the boundaries.
    lead: Option<usize>,
    /// Segment number → start time in the lead's timescale.
    boundaries: BTreeMap<u64, i64>,
    /// The number a track gets when it opens a segment from nothing.
    next_number: u64,
    pub(crate) first_number: u64,
    /// Highest number whose manifests are written.
    pub(crate) published: Option<u64>,
    pub(crate) periods: Vec<PeriodState>,
    /// Wall clock of a period that begins with the next segment opened.
    pending_period: Option<i64>,
    pub(crate) init_generation: u32,
    /// Version of the init segments within the generation (see [`PeriodState::init_version`]).
    pub(crate) init_version: u32,
    master_written: bool,
    pub(crate) finished: bool,
    /// Segment paths (`<track>/<file>`) the store could not keep.
    pub(crate) missing: BTreeSet<String>,
    /// Segment numbers missing in at least one track (the MPD leaves them out everywhere).
    pub(crate) missing_numbers: BTreeSet<u64>,
    /// Segment numbers a rendition skipped (its encoder placed no keyframe at the boundary).
    pub(crate) skipped_numbers: BTreeSet<u64>,
    /// The tracks as they were before each reconfiguration, by the
    /// (generation, version) of the init segments they went with.
    earlier_tracks: BTreeMap<(u32, u32), Vec<(TrackSpec, String)>>,
    /// Segments closed since [`Packager::take_closed`] was last called.
    closed: Vec<ClosedSegment>,
    /// The lowest segment number still stored (above `first_number` once
    /// segments expire, see [`PackagerConfig::expire_segments`]).
    pub(crate) retained_from: u64,
    /// Paths expired since [`Packager::take_expired`] was last called.
    expired: Vec<String>,
    /// Init segments (generation, version) already handed back as expired.
    expired_inits: BTreeSet<(u32, u32)>,
    /// Segment numbers of this broadcast that expired under an earlier
    /// packager, whose deletes may not have been made ([`Packager::take_sweep`]).
    sweep: Option<(u64, u64)>,
}

impl Packager {
    /// The segments closed since the last call (duration and size, for metrics).
    pub fn take_closed(&mut self) -> Vec<ClosedSegment> {
        std::mem::take(&mut self.closed)
    }

    /// A new broadcast. Returns the init segments to store.
    #[must_use = "the outputs must be stored"]
    pub fn new(
        config: PackagerConfig,
        tracks: Vec<TrackSpec>,
    ) -> Result<(Self, Vec<Output>), PackagerError> {
        Self::build(config, tracks, PackagerState::default())
    }

    /// Continues a broadcast from another packager's [`state`](Self::state)
    /// (a failover, or the next broadcast of the channel): numbering goes on,
    /// the next segment starts a new period, and new init segments are
    /// written under a new name so earlier segments keep theirs.
    #[must_use = "the outputs must be stored"]
    pub fn resume(
        config: PackagerConfig,
        tracks: Vec<TrackSpec>,
        state: PackagerState,
    ) -> Result<(Self, Vec<Output>), PackagerError> {
        Self::build(config, tracks, state)
    }

    fn build(
        config: PackagerConfig,
        specs: Vec<TrackSpec>,
        state: PackagerState,
    ) -> Result<(Self, Vec<Output>), PackagerError> {
        if !(config.segment_duration > 0.0 && config.segment_duration <= 60.0) {
            return Err(PackagerError::Config(format!(
                "segment duration {} s is outside (0, 60]",
                config.segment_duration
            )));
        }
        if specs.is_empty() {
            return Err(PackagerError::Config("no tracks".into()));
        }
        let mut tracks = specs
            .into_iter()
            .map(Track::new)
            .collect::<Result<Vec<_>, _>>()?;
        for (i, t) in tracks.iter().enumerate() {
            if tracks[..i].iter().any(|o| o.spec.name == t.spec.name) {
                return Err(PackagerError::Config(format!(
                    "two tracks named {}",
                    t.spec.name
                )));
            }
        }
        state.check()?;
        let fresh = state.periods.is_empty();
        for t in &mut tracks {
            if let Some(h) = state
                .tracks
                .iter()
                .find(|h| h.name == t.spec.name && h.timescale == t.spec.timescale)
            {
                t.history = expand(&h.runs);
                t.origins = h.origins.iter().map(|o| (o.number, o.start)).collect();
                if let Some(last) = t.history.last() {
                    // A new session's timeline may overlap the last segment's estimated end by rounding.
                    t.last_dts = Some(last.start);
                }
            }
        }
        let lead = tracks.iter().position(Track::is_video);
        // A fresh state's generation is the lowest one free (0 unless
        // [`PackagerState::above`] set it); a continued state's is in use.
        let init_generation = match config.generation {
            Some(g) if g > state.init_generation => g,
            _ if fresh => state.init_generation,
            _ => state.init_generation + 1,
        };
        let first_number = if fresh {
            state.next_number
        } else {
            state.first_number
        };
        // Nothing at or above the next number was ever stored.
        let retained_from = state
            .retained_from
            .unwrap_or(first_number)
            .clamp(first_number, state.next_number.max(first_number));
        let mut p = Self {
            pending_period: Some(config.start_time_unix_ms),
            config,
            tracks,
            lead,
            boundaries: BTreeMap::new(),
            next_number: state.next_number,
            first_number,
            published: state.next_number.checked_sub(1).filter(|_| !fresh),
            periods: state.periods,
            init_generation,
            init_version: 0,
            master_written: false,
            finished: false,
            missing: BTreeSet::new(),
            missing_numbers: BTreeSet::new(),
            skipped_numbers: BTreeSet::new(),
            earlier_tracks: BTreeMap::new(),
            closed: Vec::new(),
            retained_from,
            expired: Vec::new(),
            expired_inits: BTreeSet::new(),
            sweep: None,
        };
        if !fresh && p.config.expire_segments && retained_from > first_number {
            p.sweep = Some((first_number, retained_from));
        }
        p.set_missing(&state.missing);
        let outputs = p.tracks.iter().map(|t| p.init_output(t)).collect();
        Ok((p, outputs))
    }

    fn init_output(&self, t: &Track) -> Output {
        Output::put(
            format!(
                "{}/{}",
                t.spec.name,
                init_name(self.init_generation, self.init_version)
            ),
            Bytes::from(mp4::init_segment(&t.spec)),
            CacheClass::Immutable,
        )
    }

    /// Adds a sample. Returns what became ready to store: closed segments,
    /// then the manifests that now name them.
    #[must_use = "the outputs must be stored"]
    pub fn push(&mut self, track: TrackId, sample: Sample) -> Result<Vec<Output>, PackagerError> {
        if self.finished {
            return Err(PackagerError::Finished);
        }
        let t = self
            .tracks
            .get(track.0)
            .ok_or(PackagerError::NoSuchTrack(track.0))?;
        if sample.dts < 0 {
            return Err(PackagerError::NonMonotonic {
                track: t.spec.name.clone(),
                dts: sample.dts,
                previous: 0,
            });
        }
        if let Some(previous) = t.last_dts {
            if sample.dts < previous
                || (sample.dts == previous
                    && t.open.as_ref().is_some_and(|o| !o.samples.is_empty()))
            {
                return Err(PackagerError::NonMonotonic {
                    track: t.spec.name.clone(),
                    dts: sample.dts,
                    previous,
                });
            }
        }
        let mut out = Vec::new();
        if t.is_video() {
            self.push_video(track.0, sample, &mut out)?;
        } else {
            self.push_audio(track.0, sample, &mut out)?;
        }
        self.publish(&mut out);
        Ok(out)
    }

    /// Closes every open segment (pending audio included).
    fn flush(&mut self, out: &mut Vec<Output>) {
        self.cut_audio(out);
        let mut highest: Option<u64> = None;
        for i in 0..self.tracks.len() {
            let pending: Vec<Sample> = self.tracks[i].pending.drain(..).collect();
            self.tracks[i].pending_bytes = 0;
            if !pending.is_empty() && self.tracks[i].open.is_none() {
                let number = self.number_for(i, pending[0].dts);
                self.open(i, number, pending[0].dts);
            }
            if let Some(open) = self.tracks[i].open.as_mut() {
                open.samples.extend(pending);
                highest = highest.max(Some(open.number));
            }
            self.close(i, None, out);
        }
        for t in &self.tracks {
            highest = highest.max(t.history.last().map(|e| e.number));
        }
        if let Some(h) = highest {
            self.next_number = self.next_number.max(h + 1);
        }
        self.boundaries.clear();
    }

    /// Writes manifests for segment numbers now closed in every track.
    fn publish(&mut self, out: &mut Vec<Output>) {
        let through = self
            .tracks
            .iter()
            .map(|t| match &t.open {
                Some(o) => o.number.checked_sub(1),
                None if !t.pending.is_empty() => None,
                None => self.next_number.checked_sub(1),
            })
            .min()
            .flatten();
        let Some(through) = through else { return };
        if self.published.is_some_and(|p| p >= through) || through < self.first_number {
            return;
        }
        if !self.tracks.iter().any(|t| {
            t.history
                .last()
                .is_some_and(|e| e.number <= through && e.number >= self.first_number)
        }) {
            return;
        }
        self.published = Some(through);
        self.write_manifests(out);
        self.expire();
    }

    fn write_manifests(&mut self, out: &mut Vec<Output>) {
        let cache = if self.finished {
            CacheClass::Final
        } else {
            CacheClass::Manifest
        };
        for t in &self.tracks {
            out.push(Output::put(
                format!("{}/index.m3u8", t.spec.name),
                Bytes::from(manifest::media_playlist(self, t)),
                cache,
            ));
        }
        if !self.master_written || self.finished {
            self.master_written = true;
            out.push(Output::put(
                "master.m3u8".into(),
                Bytes::from(manifest::master_playlist(self)),
                cache,
            ));
        }
        out.push(Output::put(
            "manifest.mpd".into(),
            Bytes::from(manifest::mpd(self)),
            cache,
        ));
    }

    /// Marks the media segments that could not be stored, by the paths this
    /// packager gave them (`<track>/<n>.m4s`); the set replaces the previous
    /// one, so a segment stored late is named normally again. The HLS media
    /// playlists keep listing a missing segment, preceded by `EXT-X-GAP`
    /// (players skip it instead of failing on it), and the MPD leaves a hole:
    /// its period is split around the number, in every representation.
    /// Paths that name no segment are ignored. Returns whether anything changed.
    pub fn set_missing<S: AsRef<str>>(&mut self, paths: &[S]) -> bool {
        let missing: BTreeSet<String> = paths
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| segment_number(p).is_some())
            .map(str::to_owned)
            .collect();
        if missing == self.missing {
            return false;
        }
        self.missing_numbers = missing.iter().filter_map(|p| segment_number(p)).collect();
        self.missing = missing;
        true
    }

    /// Whether the segment `number` of `track` is marked missing.
    pub(crate) fn is_missing(&self, track: &str, number: u64, generation: u32) -> bool {
        !self.missing.is_empty()
            && self
                .missing
                .contains(&format!("{track}/{}", segment_name(number, generation)))
    }

    /// The current manifests again (after [`Packager::set_missing`] changed
    /// them); nothing before the first manifests were written.
    #[must_use = "the outputs must be stored"]
    pub fn manifests(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        if self.published.is_some() {
            self.write_manifests(&mut out);
        }
        out
    }

    /// The highest segment number listed in the manifests.
    pub fn published_through(&self) -> Option<u64> {
        self.published
    }
}

impl Packager {
    /// Track `i`'s description and codecs string as they were in `period`:
    /// a reconfiguration changes them for the periods after it only.
    pub(crate) fn track_in(&self, period: &PeriodState, i: usize) -> (&TrackSpec, &str) {
        self.earlier_tracks
            .get(&(period.init_generation, period.init_version))
            .and_then(|tracks| tracks.get(i))
            .map(|(spec, codecs)| (spec, codecs.as_str()))
            .unwrap_or((&self.tracks[i].spec, self.tracks[i].codecs.as_str()))
    }

    /// Segment numbers the MPD leaves out: lost or skipped in some rendition.
    pub(crate) fn holes(&self) -> BTreeSet<u64> {
        self.missing_numbers
            .union(&self.skipped_numbers)
            .copied()
            .collect()
    }
}

/// `v` ticks of timescale `from` in timescale `to`, rounded down.
pub(crate) fn rescale(v: i64, from: i64, to: i64) -> i64 {
    if from == to || from == 0 {
        return v;
    }
    ((i128::from(v) * i128::from(to)).div_euclid(i128::from(from))) as i64
}

#[cfg(test)]
mod caption_tests;
#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod period_tests;
#[cfg(test)]
mod range_tests;
#[cfg(test)]
mod tests;
