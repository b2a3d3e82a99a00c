//! HLS playlists (`hls`) and the DASH MPD (`dash`), rendered from the
//! packager's segment lists. Both name the same files; both are pure
//! functions of the packager's state. Here: what both read from it (the
//! listed window, periods, bandwidths, durations).

use crate::{Packager, SegEntry, Track};

mod dash;
mod hls;

pub(crate) use dash::mpd;
pub(crate) use hls::{master_playlist, media_playlist};

/// Segment numbers the live manifests list (all of them once finished).
pub(super) fn window(p: &Packager) -> Option<(u64, u64)> {
    let end = p.published?;
    if p.finished {
        return Some((p.retained_from, end));
    }
    let start = match p.config.dvr_window {
        Some(dvr) => {
            let t = reference(p);
            let ts = t.spec.timescale as f64;
            let mut sum = 0.0;
            let mut start = end;
            for e in t.history.iter().rev().filter(|e| e.number <= end) {
                start = e.number;
                sum += e.duration as f64 / ts;
                if sum >= dvr {
                    break;
                }
            }
            start
        }
        None => (end + 1).saturating_sub(p.config.live_window.max(1) as u64),
    };
    Some((start.max(p.retained_from), end))
}

/// The track whose segment list stands for the broadcast (the first video track).
pub(super) fn reference(p: &Packager) -> &Track {
    p.tracks
        .iter()
        .find(|t| t.is_video())
        .unwrap_or(&p.tracks[0])
}

pub(super) fn listed(t: &Track, (start, end): (u64, u64)) -> &[SegEntry] {
    let a = t.history.partition_point(|e| e.number < start);
    let b = t.history.partition_point(|e| e.number <= end);
    t.history.get(a..b).unwrap_or(&[])
}

/// Index of the period a segment number belongs to.
pub(super) fn period_of(p: &Packager, number: u64) -> usize {
    p.periods
        .partition_point(|x| x.first_number <= number)
        .saturating_sub(1)
}

/// Wall-clock time at which `e` starts: its period's clock plus the media time since the period began.
pub(crate) fn program_date_ms(p: &Packager, t: &Track, e: &SegEntry) -> i64 {
    let Some(period) = p.periods.get(period_of(p, e.number)) else {
        return p.config.start_time_unix_ms;
    };
    let first = t.start_from(period.first_number).unwrap_or(e.start);
    period.wallclock_ms + (e.start - first) * 1000 / i64::from(t.spec.timescale)
}

pub(super) fn seconds(ticks: i64, timescale: u32) -> f64 {
    ticks as f64 / f64::from(timescale)
}

pub(crate) fn peak_bps(entries: &[SegEntry], timescale: u32) -> u64 {
    entries
        .iter()
        .filter(|e| e.duration > 0 && e.bytes > 0)
        .map(|e| (e.bytes as f64 * 8.0 / seconds(e.duration, timescale)) as u64)
        .max()
        .unwrap_or(0)
}

/// (peak, average) bits per second: measured over the whole broadcast once
/// finished (never below the declared peak), declared while live.
pub(super) fn bandwidths(p: &Packager, t: &Track) -> (u64, u64) {
    let declared = (
        t.spec.bandwidth,
        t.spec.average_bandwidth.min(t.spec.bandwidth).max(1),
    );
    if !p.finished || t.history.iter().any(|e| e.bytes == 0) {
        return declared;
    }
    let total_s: f64 = t
        .history
        .iter()
        .map(|e| seconds(e.duration, t.spec.timescale))
        .sum();
    let bytes: u64 = t.history.iter().map(|e| e.bytes).sum();
    if total_s <= 0.0 {
        return declared;
    }
    let average = (bytes as f64 * 8.0 / total_s) as u64;
    (
        peak_bps(&t.history, t.spec.timescale)
            .max(declared.0)
            .max(average),
        average.max(1),
    )
}

pub(super) fn target_duration(p: &Packager, t: &Track, entries: &[SegEntry]) -> u64 {
    let longest = entries
        .iter()
        .map(|e| seconds(e.duration, t.spec.timescale).round() as u64)
        .max()
        .unwrap_or(0);
    longest.max(p.config.segment_duration.ceil() as u64).max(1)
}
