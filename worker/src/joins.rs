//! Inputs whose timestamps jump. An MPEG-TS made by joining recordings end
//! to end (`cat a.ts b.ts`, a broadcast splice, a capture across an encoder
//! restart) goes back to the next recording's start, or forward over a gap.
//! Taken as they are, the part after a jump back fell behind the timeline and
//! was dropped, and a jump forward became one segment as long as the gap.
//!
//! For the formats whose timestamps may jump (FFmpeg's `AVFMT_TS_DISCONT`:
//! MPEG-TS, HLS, RTP), the input is joined as the ffmpeg CLI joins it: a
//! decode time more than 0.1 s behind where its track was expected, or more
//! than 10 s ahead, moves every track's timestamps so that the packet lands
//! where its track was expected. What follows continues the timeline.

use livefleet_base::Track;

/// A decode time further behind its track's expected next one counts as a jump.
const BACK_US: i64 = 100_000;
/// A decode time further ahead of it counts as a jump.
const AHEAD_US: i64 = 10_000_000;

/// One join: where the track was expected, and where the input jumped to
/// (microseconds, the input's own clock before this join).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump {
    pub track: Track,
    pub expected_us: i64,
    pub found_us: i64,
}

/// The offset every timestamp of the input gets, moved at each jump.
#[derive(Debug, Default)]
pub struct Joins {
    offset_us: i64,
    /// Where each track's next packet is expected, on the joined clock.
    next_us: [Option<i64>; 2],
    pub count: u32,
    /// The media all joins removed from the input's own clock.
    pub removed_us: i64,
}

impl Joins {
    /// Places a packet of `track` decoded at `dts_us` (the input's clock)
    /// lasting `duration_us`; returns the jump when it made one. Read the
    /// offset to apply with [`Joins::offset_us`] afterwards.
    pub fn place(&mut self, track: Track, dts_us: i64, duration_us: i64) -> Option<Jump> {
        let slot = match track {
            Track::Video => 0,
            Track::Audio => 1,
        };
        let at = dts_us + self.offset_us;
        let mut jump = None;
        if let Some(expected) = self.next_us[slot] {
            let delta = at - expected;
            if !(-BACK_US..=AHEAD_US).contains(&delta) {
                self.offset_us -= delta;
                self.count += 1;
                self.removed_us += delta;
                jump = Some(Jump {
                    track,
                    expected_us: expected - (self.offset_us + delta),
                    found_us: dts_us,
                });
            }
        }
        let placed = dts_us + self.offset_us;
        self.next_us[slot] = Some(placed + duration_us.max(0));
        jump
    }

    /// Microseconds to add to every timestamp of the input from here on.
    pub fn offset_us(&self) -> i64 {
        self.offset_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: i64 = 33_333;

    #[test]
    fn a_jump_back_continues_where_the_track_was_expected() {
        let mut j = Joins::default();
        for n in 0..90 {
            assert_eq!(j.place(Track::Video, 1_400_000 + n * FRAME, FRAME), None);
        }
        // The second recording starts again at 1.4 s.
        let jump = j.place(Track::Video, 1_400_000, FRAME).unwrap();
        assert_eq!(jump.found_us, 1_400_000);
        assert_eq!(jump.expected_us, 1_400_000 + 90 * FRAME);
        assert_eq!(j.offset_us(), 90 * FRAME);
        assert_eq!(j.removed_us, -90 * FRAME);
        // Its audio follows on the moved clock, without a second jump.
        assert_eq!(j.place(Track::Audio, 1_390_000, 21_333), None);
        assert_eq!(j.count, 1);
    }

    #[test]
    fn a_gap_over_ten_seconds_is_closed_a_shorter_one_kept() {
        let mut j = Joins::default();
        j.place(Track::Video, 0, FRAME);
        assert_eq!(j.place(Track::Video, 5_000_000, FRAME), None);
        let jump = j.place(Track::Video, 105_000_000, FRAME).unwrap();
        let removed = 105_000_000 - (5_000_000 + FRAME);
        assert_eq!(jump.found_us - jump.expected_us, removed);
        assert_eq!(j.offset_us(), -removed);
        assert_eq!(j.removed_us, removed);
    }

    #[test]
    fn small_steps_back_are_left_to_the_decoder() {
        let mut j = Joins::default();
        j.place(Track::Audio, 1_000_000, 21_333);
        assert_eq!(j.place(Track::Audio, 950_000, 21_333), None);
        assert_eq!(j.offset_us(), 0);
    }
}
