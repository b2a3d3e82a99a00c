//! The broadcast's media timeline: every session's timestamps land on one
//! 90 kHz clock that keeps increasing across publish sessions (a session is
//! stamped from where the previous one ended), so segment numbers and `tfdt`
//! never go back.

use ff::{Rational, Rescale};
use ffmpeg_next as ff;

use crate::encoder::VIDEO_TIME_BASE;

/// Where one session's timestamps land on the broadcast's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// The session's first video frame, in 90 kHz ticks of its own clock.
    pub origin_90k: i64,
    /// Where the session starts on the broadcast's timeline (90 kHz).
    pub base_90k: i64,
}

impl Timeline {
    /// A session whose first video frame is stamped `origin` in `time_base`,
    /// continuing the broadcast at `base_90k`.
    pub fn new(origin: i64, time_base: Rational, base_90k: i64) -> Self {
        Self {
            origin_90k: origin.rescale(time_base, VIDEO_TIME_BASE),
            base_90k,
        }
    }

    /// A timestamp of the session (in `time_base`) on the broadcast's 90 kHz timeline.
    pub fn to_90k(&self, ts: i64, time_base: Rational) -> i64 {
        ts.rescale(time_base, VIDEO_TIME_BASE) - self.origin_90k + self.base_90k
    }

    /// A timestamp of the session (in `time_base`) in samples at `rate` on the timeline.
    pub fn to_samples(&self, ts: i64, time_base: Rational, rate: u32) -> i64 {
        self.to_90k(ts, time_base)
            .rescale(VIDEO_TIME_BASE, Rational::new(1, rate as i32))
    }

    /// The session's start in samples at `rate`.
    pub fn base_samples(&self, rate: u32) -> i64 {
        self.base_90k
            .rescale(VIDEO_TIME_BASE, Rational::new(1, rate as i32))
    }
}

/// The time of each decoded frame of a session, in the stream's time base.
/// A frame the decoder gives no time (the last ones drained from an AVI's
/// B-frames, whose packets carry only a decode time) follows the one before
/// by a frame duration, as the ffmpeg CLI guesses it. Before, it took the
/// session's origin: the last frames went back to the start, and a file
/// seemed to end at 0 s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameTimes {
    origin: i64,
    step: i64,
    last: Option<i64>,
}

impl FrameTimes {
    pub fn new(origin: i64, frame_rate: Rational, time_base: Rational) -> Self {
        let duration = Rational::new(frame_rate.denominator(), frame_rate.numerator().max(1));
        Self {
            origin,
            step: 1i64.rescale(duration, time_base).max(1),
            last: None,
        }
    }

    /// The time of a frame stamped `ts` (`None`: not stamped).
    pub fn of(&mut self, ts: Option<i64>) -> i64 {
        let ts = ts
            .or(self.last.map(|t| t + self.step))
            .unwrap_or(self.origin);
        self.last = Some(ts);
        ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_continue_the_timeline() {
        let ms = Rational::new(1, 1000);
        // A session whose timestamps start at 30 s continues a broadcast at 10 s.
        let t = Timeline::new(30_000, ms, 900_000);
        assert_eq!(t.to_90k(30_000, ms), 900_000);
        assert_eq!(t.to_90k(31_000, ms), 990_000);
        assert_eq!(t.to_samples(31_000, ms, 48_000), 11 * 48_000);
        assert_eq!(t.base_samples(48_000), 10 * 48_000);
    }

    #[test]
    fn unstamped_frames_follow_the_one_before() {
        let mut t = FrameTimes::new(2, Rational::new(30, 1), Rational::new(1, 30));
        let got: Vec<i64> = [Some(2), Some(3), None, None]
            .into_iter()
            .map(|ts| t.of(ts))
            .collect();
        assert_eq!(got, [2, 3, 4, 5]);
        // A 90 kHz stream at 25 fps steps 3600 ticks; nothing stamped yet: the origin.
        let mut t = FrameTimes::new(900, Rational::new(25, 1), Rational::new(1, 90_000));
        assert_eq!((t.of(None), t.of(None)), (900, 4500));
    }
}
