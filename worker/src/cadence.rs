//! The output cadence of an encoded rendition: one frame per slot of its
//! frame rate, on the session's timeline.
//!
//! A live source's timestamps jitter (RTMP rounds them to milliseconds, and a
//! publisher short of CPU stamps frames late, then early), and a source may
//! run faster than the rendition. Each decoded frame takes the slot nearest
//! its timestamp (ties to the earlier slot; in a rendition slower than its
//! source, the slot from half a source frame before it, so 60 -> 30 keeps
//! the frames on the grid even where the half-way ones are stamped a tick
//! late), a segment's first frame the slot of the grid time it is due at
//! (the same instant in every rendition), or the first free slot when it is
//! less than a slot late, and
//! is stamped with the slot's time; a frame whose slot is already taken is
//! dropped, and slots skipped by a short hole are filled with the previous
//! frame. The renditions are then constant-rate, as their
//! declared `FRAME-RATE` says, and as the ffmpeg CLI's HLS output is.
//! Record: docs/design/bad-input.md.

use ffmpeg_next::Rational;

/// The longest hole filled with repeats, in seconds of slots: a longer one
/// is a stalled publisher, left as one long frame rather than encoded as a
/// burst of copies.
const MAX_FILL_SECONDS: i64 = 1;

/// Where one source frame goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Slots (90 kHz) to fill with the previous frame first, oldest first.
    pub repeats: Vec<i64>,
    /// The frame's own slot (90 kHz).
    pub pts: i64,
}

/// The slot grid of one rendition.
#[derive(Debug, Clone)]
pub(crate) struct Cadence {
    origin: i64,
    /// Slot `k` starts at `origin + k * 90_000 * den / num`.
    num: i64,
    den: i64,
    /// A frame goes to slot `ceil(x - lean)`, `x` its time in slots: a
    /// lean of one half is the nearest slot, ties to the earlier.
    lean: (i128, i128),
    last: Option<i64>,
}

impl Cadence {
    /// A grid of `frame_rate` slots from `origin` (90 kHz).
    pub fn new(origin: i64, frame_rate: Rational) -> Self {
        Self {
            origin,
            num: i64::from(frame_rate.numerator()).max(1),
            den: i64::from(frame_rate.denominator()).max(1),
            lean: (1, 2),
            last: None,
        }
    }

    /// The grid of a rendition slower than its `source_rate` source. A slot
    /// takes the first source frame from half a source frame before it: 60
    /// fps into 30 keeps the frames on the grid and drops those between,
    /// even where a half-way frame is stamped a tick late (59.94 fps in a
    /// 1/60000 time base, RTMP's milliseconds). With the nearest slot
    /// instead, such a frame took the next slot, and the frame on it (a
    /// segment's first, decided for every rendition at once) moved a slot
    /// later in this rendition alone: segments out of line across the ladder.
    pub fn from_source(origin: i64, frame_rate: Rational, source_rate: Rational) -> Self {
        let mut c = Self::new(origin, frame_rate);
        let (n, d) = (i128::from(c.num), i128::from(c.den));
        let (sn, sd) = (
            i128::from(source_rate.numerator()),
            i128::from(source_rate.denominator()),
        );
        // lean = 1 - out / (2 * source), for a source faster than the output.
        if sn > 0 && sd > 0 && n * sd < sn * d {
            c.lean = (2 * d * sn - n * sd, 2 * d * sn);
        }
        c
    }

    /// Ticks (90 kHz) of one slot, rounded down.
    pub fn step(&self) -> i64 {
        (90_000 * self.den / self.num).max(1)
    }

    fn time_of(&self, slot: i64) -> i64 {
        let t = self.origin as i128 + slot as i128 * 90_000 * self.den as i128 / self.num as i128;
        t.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// The slot of `pts`: `ceil(x - lean)` with `x` its time in slots (the
    /// nearest slot, ties to the earlier, at the lean of one half).
    fn slot_of(&self, pts: i64) -> i64 {
        // x = (pts - origin) * num / (90_000 * den).
        let unit = 90_000i128 * self.den as i128;
        let (ln, ld) = self.lean;
        let a = (pts as i128 - self.origin as i128) * self.num as i128 * ld - ln * unit;
        let b = unit * ld;
        (a.div_euclid(b) + i128::from(a.rem_euclid(b) != 0)) as i64
    }

    /// Places a frame at `pts`; `None` drops it (its slot is taken). A
    /// `forced` frame (a segment or GOP start) is never dropped: with its
    /// slot taken it takes the next one. A forced frame `due` at a grid time
    /// (the boundary clock's, the same for every rendition) takes the slot
    /// of that time, so renditions of different rates start the segment at
    /// one instant whatever their slots did with the frames before.
    pub fn place(&mut self, pts: i64, forced: bool, due: Option<i64>) -> Option<Placement> {
        if let Some(due) = due.filter(|_| forced) {
            let slot = self.nearest(due);
            let slot = self.last.map_or(slot, |last| slot.max(last + 1));
            return Some(self.take(slot));
        }
        let nearest = self.slot_of(pts);
        let slot = match self.last {
            None => nearest,
            Some(last) if nearest <= last => {
                if !forced {
                    return None;
                }
                last + 1
            }
            // A late frame (less than a slot after the first free one) takes
            // that slot instead of leaving it to a repeat.
            Some(last)
                if nearest > last + 1
                    && pts.saturating_sub(self.time_of(last + 1)) < self.step() =>
            {
                last + 1
            }
            Some(_) => nearest,
        };
        Some(self.take(slot))
    }

    /// The slot nearest `pts`, ties to the earlier one.
    fn nearest(&self, pts: i64) -> i64 {
        Self {
            lean: (1, 2),
            ..self.clone()
        }
        .slot_of(pts)
    }

    /// Takes `slot` (after the last one), with the hole before it filled.
    fn take(&mut self, slot: i64) -> Placement {
        let mut repeats = Vec::new();
        if let Some(last) = self.last {
            let hole = slot - last - 1;
            if hole > 0 && hole <= MAX_FILL_SECONDS * self.num / self.den {
                repeats = (last + 1..slot).map(|s| self.time_of(s)).collect();
            }
        }
        self.last = Some(slot);
        Placement {
            repeats,
            pts: self.time_of(slot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &mut Cadence, input: &[i64]) -> Vec<i64> {
        let mut out = Vec::new();
        for p in input {
            if let Some(pl) = c.place(*p, false, None) {
                out.extend(pl.repeats);
                out.push(pl.pts);
            }
        }
        out
    }

    #[test]
    fn millisecond_jitter_lands_on_the_grid() {
        // RTMP's 33/67 ms steps, then a publisher short of CPU (late, then early).
        let input = [0, 2970, 6030, 9000, 11970, 15030, 19800, 20700, 24030];
        let mut c = Cadence::new(0, Rational(30, 1));
        let out = run(&mut c, &input);
        assert_eq!(out, (0..9).map(|k| k * 3000).collect::<Vec<_>>());
        assert_eq!(
            c.place(27_000, false, None).unwrap().repeats,
            Vec::<i64>::new()
        );
    }

    #[test]
    fn half_a_source_rate_keeps_the_frames_on_the_grid_whatever_their_rounding() {
        // 59.94 fps into 29.97: frame k at k * 1501.5 ticks, the half ones
        // rounded up (a 1/60000 time base), or jittered by RTMP's
        // milliseconds. Every even frame keeps its own slot.
        let at = |k: i64, jitter: i64| (k * 3003 + 1) / 2 + jitter;
        for jitter in [[0, 0, 0], [45, -45, 30], [-45, 45, -30]] {
            let mut c = Cadence::from_source(0, Rational(30_000, 1001), Rational(60_000, 1001));
            let mut kept = Vec::new();
            for k in 0..400 {
                // A segment starts on frame 120 (even) for every rendition.
                if let Some(p) = c.place(at(k, jitter[(k % 3) as usize]), k % 120 == 0, None) {
                    assert!(p.repeats.is_empty());
                    kept.push((k, p.pts));
                }
            }
            assert_eq!(kept.len(), 200, "{jitter:?}");
            assert!(
                kept.iter()
                    .all(|(k, pts)| k % 2 == 0 && *pts == k / 2 * 3003),
                "{jitter:?}: {:?}",
                &kept[..8]
            );
        }
        // Under a whole multiple it is the cap's own grid: 30 into 24.
        let mut c = Cadence::from_source(0, Rational(24, 1), Rational(30, 1));
        let out = run(&mut c, &(0..30).map(|k| k * 3000).collect::<Vec<_>>());
        assert_eq!(out, (0..24).map(|k| k * 3750).collect::<Vec<_>>());
    }

    #[test]
    fn segments_start_at_one_instant_in_renditions_of_two_rates() {
        // A live 59.94 fps source taken for 60 (its rate estimated from
        // millisecond stamps): a 60 fps rendition and a 30 fps one. The
        // source drifts against the 60 fps grid, so the frames before a
        // boundary sit on other slots in each; the boundary itself lands on
        // its due time in both.
        let mut clock =
            crate::boundary::BoundaryClock::new(0, 180_000, 180_000, false).early_by(750);
        let mut full = Cadence::from_source(0, Rational(60, 1), Rational(60, 1));
        let mut half = Cadence::from_source(0, Rational(30, 1), Rational(60, 1));
        let (mut starts_full, mut starts_half) = (Vec::new(), Vec::new());
        for k in 0..1800 {
            let pts = (k * 1001 / 60) * 90;
            let b = clock.frame(pts);
            let f = full.place(pts, b.force_key, b.due);
            let h = half.place(pts, b.force_key, b.due);
            if b.segment_start {
                starts_full.push(f.expect("forced").pts);
                starts_half.push(h.expect("forced").pts);
            }
        }
        assert_eq!(starts_full.len(), 16);
        assert_eq!(starts_full, starts_half);
        assert!(starts_full
            .iter()
            .enumerate()
            .all(|(n, t)| *t == n as i64 * 180_000));
    }

    #[test]
    fn a_slower_source_is_repeated_on_a_regular_grid() {
        // 24 fps into a 30 fps rendition: every output slot filled, each
        // frame at most one slot early.
        let mut c = Cadence::new(0, Rational(30, 1));
        let mut out = Vec::new();
        for k in 0..48 {
            let p = k * 3750;
            let pl = c.place(p, false, None).expect("never dropped");
            assert!(pl.pts <= p + 1500 && p - pl.pts < 3000, "{p} -> {}", pl.pts);
            out.extend(pl.repeats);
            out.push(pl.pts);
        }
        assert_eq!(
            out,
            (0..out.len() as i64).map(|k| k * 3000).collect::<Vec<_>>()
        );
        assert!(out.len() >= 58, "{} slots for 1.96 s", out.len());
    }

    #[test]
    fn a_faster_source_keeps_the_frames_on_the_grid() {
        let mut c = Cadence::new(0, Rational(30, 1));
        let input: Vec<i64> = (0..8).map(|k| k * 1500).collect();
        assert_eq!(run(&mut c, &input), vec![0, 3000, 6000, 9000]);
    }

    #[test]
    fn a_short_hole_is_filled_a_long_one_is_not() {
        let mut c = Cadence::new(0, Rational(30, 1));
        let p = c.place(0, false, None).unwrap();
        assert!(p.repeats.is_empty());
        let p = c.place(12_000, false, None).unwrap();
        assert_eq!(p.repeats, vec![3000, 6000, 9000]);
        assert_eq!(p.pts, 12_000);
        let p = c.place(12_000 + 5 * 90_000, false, None).unwrap();
        assert!(p.repeats.is_empty(), "a 5 s stall is not filled");
        assert_eq!(p.pts, 12_000 + 5 * 90_000);
    }

    #[test]
    fn a_forced_frame_is_never_dropped() {
        let mut c = Cadence::new(0, Rational(30, 1));
        c.place(0, false, None);
        assert_eq!(c.place(1000, false, None), None);
        assert_eq!(
            c.place(1400, true, None),
            Some(Placement {
                repeats: vec![],
                pts: 3000
            })
        );
        assert_eq!(
            c.place(4400, false, None),
            None,
            "its slot went to the forced frame"
        );
    }

    #[test]
    fn ntsc_rates_keep_exact_slot_times() {
        let mut c = Cadence::new(900, Rational(30_000, 1001));
        let input: Vec<i64> = (0..1000).map(|k| 900 + k * 3003 + (k % 3) * 7).collect();
        let out = run(&mut c, &input);
        assert_eq!(out.len(), 1000);
        assert_eq!(out[999], 900 + 999 * 3003);
        assert_eq!(c.step(), 3003);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut c = Cadence::new(i64::MIN / 2, Rational(30, 1));
        assert!(c.place(i64::MAX / 2, false, None).is_some());
        assert_eq!(
            c.place(i64::MIN / 2, false, None),
            None,
            "behind the last slot"
        );
    }

    #[test]
    fn timestamps_before_the_origin_still_place() {
        let mut c = Cadence::new(90_000, Rational(25, 1));
        assert_eq!(
            c.place(90_000 - 3600, false, None).unwrap().pts,
            90_000 - 3600
        );
        assert_eq!(c.place(90_000 - 1000, false, None).unwrap().pts, 90_000);
    }
}
