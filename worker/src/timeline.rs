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

/// Seconds in 90 kHz ticks.
pub fn secs_90k(s: f64) -> i64 {
    (s * 90_000.0).round() as i64
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
}
