//! Where segments and GOPs start: decided once per session, for every
//! rendition, by one [`BoundaryClock`].
//!
//! Boundaries sit on a grid from the session's start (segment duration and
//! GOP from the profile). Every encoded rendition forces an IDR at exactly
//! the frames the clock names, so segments align across the ladder. With a
//! passthrough rendition a segment may only start on a source keyframe:
//! then the clock decides at the keyframe's packet (the copied rendition
//! needs the answer before the frame is decoded), and the decoded frame
//! with that timestamp carries the same answer to the encoders.

use std::collections::BTreeMap;

/// Decides, once for the whole ladder, which frames start a segment and which start a GOP.
#[derive(Debug, Clone)]
pub struct BoundaryClock {
    segment: i64,
    gop: i64,
    /// How early a frame may come and still start what is due (half a
    /// source frame: a live source's timestamps jitter by a millisecond).
    early: i64,
    start: i64,
    /// The slowest rendition's frame duration, `.0 / .1` ticks: where a
    /// boundary frame far from its grid point (after a stall) is stamped.
    slot: Option<(i128, i128)>,
    next_segment: i64,
    next_gop: i64,
    keyframes_only: bool,
    started: bool,
    /// Source keyframes seen but not decoded yet: timestamp -> starts a segment.
    decided: BTreeMap<i64, bool>,
}

/// What the clock says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Boundary {
    pub segment_start: bool,
    pub force_key: bool,
    /// The grid time the segment or GOP is due at (90 kHz), where every
    /// encoded rendition stamps the frame, so segments start at one instant
    /// in renditions of different frame rates; `None` with a passthrough
    /// rendition (the source's keyframes keep their own times).
    pub due: Option<i64>,
}

/// Source keyframes remembered at most (a decoder that never outputs some).
const MAX_DECIDED: usize = 64;

impl BoundaryClock {
    /// `segment` and `gop` in the same units as the timestamps; `keyframes_only`
    /// when a passthrough rendition copies the source's GOPs.
    pub fn new(start: i64, segment: i64, gop: i64, keyframes_only: bool) -> Self {
        Self {
            segment: segment.max(1),
            gop: gop.max(1),
            early: 0,
            start,
            slot: None,
            next_segment: start,
            next_gop: start,
            keyframes_only,
            started: false,
            decided: BTreeMap::new(),
        }
    }

    /// Lets a frame up to `ticks` before a boundary start it.
    pub fn early_by(mut self, ticks: i64) -> Self {
        self.early = ticks.clamp(0, self.gop.min(self.segment) / 2);
        self
    }

    /// Stamps a boundary frame that comes long after its grid point (a
    /// publisher that stalled) on the nearest slot of `rate`, the slowest
    /// rendition's, rather than back at the point.
    pub fn on_slots_of(mut self, rate: ffmpeg_next::Rational) -> Self {
        let (n, d) = (i128::from(rate.numerator()), i128::from(rate.denominator()));
        self.slot = (n > 0 && d > 0).then_some((90_000 * d, n));
        self
    }

    /// Where a boundary frame at `pts` is stamped, its grid `point` passed.
    fn due_at(&self, point: i64, pts: i64) -> i64 {
        if pts - point <= self.early {
            return point;
        }
        match self.slot {
            Some((n, d)) => {
                let k = (2 * i128::from(pts - self.start) * d + n).div_euclid(2 * n);
                (i128::from(self.start) + k * n / d) as i64
            }
            None => pts,
        }
    }

    pub fn keyframes_only(&self) -> bool {
        self.keyframes_only
    }

    /// A source keyframe's packet was read (decode order): whether it starts
    /// a segment (only ever true with `keyframes_only`). Asking twice for the
    /// same timestamp gives the same answer.
    pub fn source_keyframe(&mut self, pts: i64) -> bool {
        if let Some(d) = self.decided.get(&pts) {
            return *d;
        }
        let start = self.keyframes_only && (!self.started || pts + self.early >= self.next_segment);
        if start {
            self.started = true;
            while self.next_segment <= pts + self.early {
                self.next_segment += self.segment;
            }
        }
        self.decided.insert(pts, start);
        while self.decided.len() > MAX_DECIDED {
            self.decided.pop_first();
        }
        start
    }

    /// A decoded frame (presentation order).
    pub fn frame(&mut self, pts: i64) -> Boundary {
        let mut b = Boundary::default();
        if self.keyframes_only {
            // Keyframes older than this frame will never be decoded now.
            self.decided = self.decided.split_off(&pts);
            b.segment_start = self.decided.get(&pts).copied().unwrap_or(false);
            if !self.started {
                return b;
            }
        } else {
            b.segment_start = !self.started || pts + self.early >= self.next_segment;
            if b.segment_start {
                let point = Self::pass(&mut self.next_segment, self.segment, pts + self.early);
                b.due = Some(self.due_at(point, pts));
            }
            if !self.started {
                b.due = Some(pts); // the session's first frame is its origin
            }
            self.started = true;
        }
        b.force_key = b.segment_start || pts + self.early >= self.next_gop;
        if b.force_key {
            let point = Self::pass(&mut self.next_gop, self.gop, pts + self.early);
            if !self.keyframes_only && b.due.is_none() {
                b.due = Some(self.due_at(point, pts));
            }
        }
        b
    }

    /// Moves `next` past `reached` by whole `step`s; the last grid point
    /// passed (`next` itself when none was).
    fn pass(next: &mut i64, step: i64, reached: i64) -> i64 {
        let mut point = *next;
        while *next <= reached {
            point = *next;
            *next += step;
        }
        point
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_a_tick_early_starts_what_is_due_once() {
        // 59.94 fps on a 2.002 s grid, frames stamped in milliseconds.
        let mut c = BoundaryClock::new(0, 180_180, 180_180, false).early_by(750);
        let ms = |k: i64| (k * 1001 / 60) * 90;
        let starts: Vec<i64> = (0..400).filter(|k| c.frame(ms(*k)).segment_start).collect();
        assert_eq!(starts, vec![0, 120, 240, 360]);
    }

    #[test]
    fn a_boundary_is_due_at_its_grid_point() {
        let mut c = BoundaryClock::new(900, 180_000, 90_000, false).early_by(750);
        assert_eq!(c.frame(900).due, Some(900));
        assert_eq!(c.frame(2400).due, None);
        // A frame a little late, and one a little early, name the point they start.
        assert_eq!(c.frame(900 + 90_300).due, Some(900 + 90_000));
        let early = c.frame(900 + 179_500);
        assert!(early.segment_start && early.due == Some(900 + 180_000));
        // After a stall, the frame's own time without a slot grid, and the
        // nearest slot of the slowest rendition (30 fps) with one; not back
        // at the point passed.
        assert_eq!(c.frame(900 + 545_000).due, Some(900 + 545_000));
        let mut c = BoundaryClock::new(900, 180_000, 90_000, false)
            .early_by(750)
            .on_slots_of(ffmpeg_next::Rational::new(30, 1));
        c.frame(900);
        assert_eq!(c.frame(900 + 545_100).due, Some(900 + 546_000));
        // With a passthrough rendition the source's keyframes keep their times.
        let mut p = BoundaryClock::new(0, 180_000, 90_000, true);
        assert!(p.source_keyframe(0));
        assert_eq!(p.frame(0).due, None);
    }

    #[test]
    fn boundaries_on_the_grid() {
        let mut c = BoundaryClock::new(0, 180_000, 90_000, false);
        let f = 3000; // 30 fps
        let marks: Vec<(i64, Boundary)> = (0..200).map(|i| (i * f, c.frame(i * f))).collect();
        let seg: Vec<i64> = marks
            .iter()
            .filter(|(_, b)| b.segment_start)
            .map(|(t, _)| *t)
            .collect();
        let key: Vec<i64> = marks
            .iter()
            .filter(|(_, b)| b.force_key)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(seg, vec![0, 180_000, 360_000, 540_000]);
        assert_eq!(
            key,
            vec![0, 90_000, 180_000, 270_000, 360_000, 450_000, 540_000]
        );
    }

    #[test]
    fn passthrough_boundaries_wait_for_source_keyframes() {
        let mut c = BoundaryClock::new(0, 180_000, 90_000, true);
        assert!(
            !c.frame(0).segment_start,
            "no start before the first source keyframe"
        );
        assert!(c.source_keyframe(3000));
        assert!(c.frame(3000).segment_start);
        assert!(!c.frame(183_000).segment_start, "not a source keyframe");
        assert!(c.source_keyframe(186_000));
        assert!(c.source_keyframe(186_000), "asked twice, same answer");
        let b = c.frame(186_000);
        assert!(b.segment_start && b.force_key);
        assert!(!c.source_keyframe(200_000), "a keyframe inside the segment");
        assert!(!c.frame(200_000).segment_start);
    }

    #[test]
    fn the_decode_side_and_the_copy_side_agree() {
        // Keyframe packets arrive before their frames; frames in another order (B-frames).
        let mut c = BoundaryClock::new(0, 180_000, 90_000, true);
        let keys = [0i64, 120_000, 240_000, 360_000];
        let copied: Vec<bool> = keys.iter().map(|k| c.source_keyframe(*k)).collect();
        let decoded: Vec<bool> = keys.iter().map(|k| c.frame(*k).segment_start).collect();
        assert_eq!(copied, decoded);
        assert_eq!(copied, vec![true, false, true, true]);
    }
}
