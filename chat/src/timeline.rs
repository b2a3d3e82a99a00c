//! Where each channel's media stands, from the workers' segment events: the
//! relay stamps every message with a media time and the segment it falls in.
//!
//! The rule (docs/chat.md, "Media time"): a message's media time is the
//! PROGRAM-DATE-TIME the sender's player showed, clamped into the window
//! from the start of the oldest segment whose chat file is not written yet
//! (the `lag`-th newest closed segment's successor) to the live edge (the
//! end of the newest closed segment); without one it is the live edge. A
//! time at or past the live edge belongs to the segment still open.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use livefleet_base::ChannelName;
use livefleet_bus::{BroadcastState, ChannelEvent, SegmentEvent};

/// Closed segments remembered per channel.
const KEEP: usize = 512;

#[derive(Default)]
struct ChannelTimeline {
    segments: VecDeque<SegmentEvent>,
    live: bool,
}

/// Every channel's recent segments.
#[derive(Default)]
pub struct Timeline {
    channels: Mutex<HashMap<ChannelName, ChannelTimeline>>,
    lag: u64,
}

/// A message's place in the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub media_time: i64,
    pub segment: Option<u64>,
}

impl Timeline {
    /// Chat files trail the newest segment by `lag` segments.
    pub fn new(lag: u64) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            lag,
        }
    }

    /// Takes in a worker's event.
    pub fn record(&self, channel: &ChannelName, event: &ChannelEvent) {
        let Ok(mut channels) = self.channels.lock() else {
            return;
        };
        let t = channels.entry(channel.clone()).or_default();
        match event {
            ChannelEvent::Segment(s) => {
                if t.segments.back().is_some_and(|b| b.number >= s.number) {
                    return; // a replay of an event already known
                }
                t.segments.push_back(s.clone());
                if t.segments.len() > KEEP {
                    t.segments.pop_front();
                }
                t.live = true;
            }
            ChannelEvent::Broadcast(b) => t.live = b.state == BroadcastState::Started,
            ChannelEvent::Refusal(_) => {}
        }
    }

    /// The segment numbered `n` of `channel`, if still remembered.
    pub fn segment(&self, channel: &ChannelName, n: u64) -> Option<SegmentEvent> {
        let channels = self.channels.lock().ok()?;
        let t = channels.get(channel)?;
        t.segments.iter().find(|s| s.number == n).cloned()
    }

    /// Stamps a message sent at `now` (Unix ms) whose sender saw `seen`.
    pub fn stamp(&self, channel: &ChannelName, seen: Option<i64>, now: i64) -> Stamp {
        let Ok(channels) = self.channels.lock() else {
            return Stamp {
                media_time: now,
                segment: None,
            };
        };
        let Some(t) = channels
            .get(channel)
            .filter(|t| t.live && !t.segments.is_empty())
        else {
            return Stamp {
                media_time: now,
                segment: None,
            };
        };
        let newest = t.segments.back().expect("not empty");
        let edge = newest.end_ms();
        // The oldest segment whose file is not written: newest - lag + 1.
        let open_from = newest.number.saturating_sub(self.lag.saturating_sub(1));
        let floor = t
            .segments
            .iter()
            .find(|s| s.number >= open_from)
            .map_or(edge, |s| s.start_ms);
        let media_time = seen.unwrap_or(edge).clamp(floor.min(edge), edge);
        let segment = t
            .segments
            .iter()
            .rev()
            .find(|s| s.start_ms <= media_time && media_time < s.end_ms())
            .map_or(newest.number + 1, |s| s.number);
        Stamp {
            media_time,
            segment: Some(segment),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(number: u64) -> ChannelEvent {
        ChannelEvent::Segment(SegmentEvent {
            number,
            start_ms: 10_000 + number as i64 * 2000,
            duration_ms: 2000,
        })
    }

    #[test]
    fn stamps_clamp_into_the_open_window() {
        let tl = Timeline::new(3);
        let ch = ChannelName::new("demo").unwrap();
        assert_eq!(
            tl.stamp(&ch, Some(5), 99),
            Stamp {
                media_time: 99,
                segment: None
            }
        );
        for n in 0..10 {
            tl.record(&ch, &seg(n));
        }
        // Segments 0..=9 closed (9 ends at 30_000); files of 0..=6 may be written.
        let edge = 30_000;
        assert_eq!(
            tl.stamp(&ch, None, 1),
            Stamp {
                media_time: edge,
                segment: Some(10)
            }
        );
        assert_eq!(
            tl.stamp(&ch, Some(25_500), 1),
            Stamp {
                media_time: 25_500,
                segment: Some(7)
            }
        );
        assert_eq!(
            tl.stamp(&ch, Some(1), 1),
            Stamp {
                media_time: 24_000,
                segment: Some(7)
            }
        );
        assert_eq!(
            tl.stamp(&ch, Some(99_999), 1),
            Stamp {
                media_time: edge,
                segment: Some(10)
            }
        );
        assert_eq!(tl.stamp(&ch, Some(29_999), 1).segment, Some(9));
        // Replays are ignored; a stop ends stamping by segment.
        tl.record(&ch, &seg(3));
        assert_eq!(tl.segment(&ch, 9).unwrap().number, 9);
        tl.record(
            &ch,
            &ChannelEvent::Broadcast(livefleet_bus::BroadcastEvent {
                state: BroadcastState::Stopped,
                broadcast: 1,
                at_ms: 2,
            }),
        );
        assert_eq!(tl.stamp(&ch, None, 7).segment, None);
    }
}
