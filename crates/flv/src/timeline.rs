//! The RTMP clock of one publish, extended to 64 bits and checked.
//!
//! RTMP timestamps are 32-bit milliseconds that wrap after about 49.7 days.
//! Each new timestamp is placed relative to the previous one of its track by
//! the signed 32-bit difference, so the wrap is crossed without a jump. The
//! first timestamp of the publish anchors the clock; the first timestamp of
//! the other track is placed relative to that anchor so both tracks share one
//! time line.
//!
//! Policy per track (RTMP timestamps are decode timestamps, so they should
//! never go backwards):
//! * a step back of at most [`TimelineLimits::max_backward_ms`] is clamped:
//!   the packet gets the track's latest dts again (encoders jitter audio
//!   timestamps by a few ms around A/V resyncs);
//! * a larger step back, or a step forward of more than
//!   [`TimelineLimits::max_forward_ms`], is a [`TimestampJump`]: the publish
//!   cannot be packaged into continuous segments and should end.

use livefleet_base::Track;

/// How far timestamps may move between two packets of one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineLimits {
    /// Largest step back that is clamped instead of refused.
    pub max_backward_ms: i64,
    /// Largest step forward that is accepted.
    pub max_forward_ms: i64,
}

impl Default for TimelineLimits {
    fn default() -> Self {
        Self {
            max_backward_ms: 1_000,
            max_forward_ms: 10_000,
        }
    }
}

/// A timestamp moved further than the limits allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{track:?} timestamp jumped from {previous_ms} ms to {current_ms} ms")]
pub struct TimestampJump {
    pub track: Track,
    pub previous_ms: i64,
    pub current_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    raw: u32,
    extended: i64,
}

/// Extends and checks the timestamps of one publish (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct MediaTimeline {
    limits: TimelineLimits,
    anchor: Option<Last>,
    video: Option<Last>,
    audio: Option<Last>,
}

impl MediaTimeline {
    /// A timeline with the given limits.
    pub fn new(limits: TimelineLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The dts in ms `raw` would get on `track`, without placing it: for a
    /// codec configuration (a sequence header), whose timestamp encoders
    /// often set to 0 whatever their media's (FFmpeg restreaming with
    /// `-copyts`), so it must neither anchor the clock nor count as a jump.
    pub fn peek(&self, track: Track, raw: u32) -> i64 {
        let slot = match track {
            Track::Video => self.video,
            Track::Audio => self.audio,
        };
        match slot.or(self.anchor) {
            Some(last) => extend(last, raw),
            None => i64::from(raw),
        }
    }

    /// Places the RTMP timestamp `raw` of a `track` packet and returns its dts in ms.
    pub fn place(&mut self, track: Track, raw: u32) -> Result<i64, TimestampJump> {
        let slot = match track {
            Track::Video => &mut self.video,
            Track::Audio => &mut self.audio,
        };
        let Some(last) = *slot else {
            let anchor = *self.anchor.get_or_insert(Last {
                raw,
                extended: i64::from(raw),
            });
            let extended = extend(anchor, raw);
            *slot = Some(Last { raw, extended });
            return Ok(extended);
        };
        let extended = extend(last, raw);
        let step = extended - last.extended;
        if step > self.limits.max_forward_ms || step < -self.limits.max_backward_ms {
            return Err(TimestampJump {
                track,
                previous_ms: last.extended,
                current_ms: extended,
            });
        }
        if step < 0 {
            // Clamp; keep the latest timestamp as the reference.
            return Ok(last.extended);
        }
        *slot = Some(Last { raw, extended });
        Ok(extended)
    }
}

fn extend(from: Last, raw: u32) -> i64 {
    from.extended + i64::from(raw.wrapping_sub(from.raw) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_stamped_zero_neither_anchor_nor_jump() {
        let mut t = MediaTimeline::default();
        let start = 2_000_000_000u32;
        assert_eq!(t.peek(Track::Video, 0), 0);
        assert_eq!(t.peek(Track::Audio, 0), 0);
        assert_eq!(t.place(Track::Video, start), Ok(i64::from(start)));
        assert_eq!(t.place(Track::Audio, start + 10), Ok(i64::from(start) + 10));
        assert_eq!(t.place(Track::Video, start + 33), Ok(i64::from(start) + 33));
    }

    #[test]
    fn crosses_the_32_bit_wrap() {
        let mut t = MediaTimeline::default();
        assert_eq!(
            t.place(Track::Video, u32::MAX - 10),
            Ok(i64::from(u32::MAX) - 10)
        );
        assert_eq!(t.place(Track::Video, 22), Ok(i64::from(u32::MAX) + 23));
        assert_eq!(t.place(Track::Audio, 5), Ok(i64::from(u32::MAX) + 6));
    }

    #[test]
    fn clamps_small_steps_back_and_refuses_jumps() {
        let mut t = MediaTimeline::default();
        assert_eq!(t.place(Track::Audio, 5_000), Ok(5_000));
        assert_eq!(t.place(Track::Audio, 4_990), Ok(5_000));
        assert_eq!(t.place(Track::Audio, 5_020), Ok(5_020));
        assert_eq!(
            t.place(Track::Audio, 2_000),
            Err(TimestampJump {
                track: Track::Audio,
                previous_ms: 5_020,
                current_ms: 2_000
            })
        );
        assert!(t.place(Track::Audio, 16_000).is_err());
        // Video has its own history but shares the anchor.
        assert_eq!(t.place(Track::Video, 4_000), Ok(4_000));
    }
}
