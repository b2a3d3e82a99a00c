//! One window of a live channel's life, read from its counters: the rate
//! media came in at, the encoders' speeds, and whose doing it is when the
//! channel falls behind.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::progress::Progress;

/// Media arriving at less than this share of real time, every encoder
/// keeping up, is told as the publisher's doing.
const SLOW_SOURCE: f64 = 0.9;

/// The counters a status line is made from, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Reading {
    /// Media made so far, every session added.
    pub media_ms: u64,
    pub frames: u64,
    pub segments: u64,
    pub corrupt: u64,
    pub sessions: u64,
    pub publishing: bool,
    /// Time publish sessions have run so far.
    pub published: Duration,
}

impl Reading {
    pub(super) fn of(progress: &Progress) -> Self {
        Self {
            media_ms: progress.media_made_ms.load(Ordering::Relaxed),
            frames: progress.video_frames(),
            segments: progress.segments_written.load(Ordering::Relaxed),
            corrupt: progress.corrupt_packets.load(Ordering::Relaxed),
            sessions: progress.sessions.load(Ordering::Relaxed),
            publishing: progress.publishing.running(),
            published: progress.publishing.total(),
        }
    }
}

/// What one window of a channel's life comes to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    /// Media came in during the window.
    Running {
        /// Media made per second of wall time the publisher was connected
        /// (1.0 keeps the live edge), so a window a publish started or
        /// ended in does not read as falling behind.
        rate: f64,
        /// Wall time of the window the publisher was connected.
        published: Duration,
        fps: f64,
        segments: u64,
        corrupt: u64,
        /// Each encoded rendition's speed (media seconds per second of work).
        speeds: Vec<(String, f64)>,
        /// Why the channel falls behind real time, when it does.
        behind: Option<Behind>,
    },
    /// No media in the window (between publishes, or a silent publisher).
    Idle,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Behind {
    /// These renditions encode slower than real time.
    Encoders(Vec<String>),
    /// Every encoder keeps up; the media arrive slower than real time.
    Source,
}

/// The window from `before` to `now` (`wall` long, `published` of it with
/// a publisher connected). `steady`: the window before had media too. A low
/// rate is blamed on the source only in a steady window that one publish
/// session ran through: one that started, ended or was replaced inside it
/// made less media for that reason alone.
pub(crate) fn assess(
    before: Reading,
    now: Reading,
    wall: Duration,
    published: Duration,
    speeds: Vec<(String, f64)>,
    steady: bool,
) -> Status {
    let frames = now.frames.saturating_sub(before.frames);
    let secs = wall.as_secs_f64();
    if frames == 0 || secs <= 0.0 {
        return Status::Idle;
    }
    // Every session's media counts: before, a window that held two
    // publishes counted the last one only (two 5 s publishes read 0.55x).
    let media_ms = now.media_ms.saturating_sub(before.media_ms);
    let published = published.min(wall);
    let rate_over = if published >= Duration::from_secs(1) {
        published.as_secs_f64()
    } else {
        secs
    };
    let rate = media_ms as f64 / 1000.0 / rate_over;
    let slow: Vec<String> = speeds
        .iter()
        .filter(|(_, s)| *s < 1.0)
        .map(|(r, _)| r.clone())
        .collect();
    let behind = if !slow.is_empty() {
        Some(Behind::Encoders(slow))
    } else if steady
        && before.publishing
        && now.publishing
        && before.sessions == now.sessions
        && rate < SLOW_SOURCE
    {
        Some(Behind::Source)
    } else {
        None
    };
    Status::Running {
        rate,
        published,
        fps: frames as f64 / secs,
        segments: now.segments.saturating_sub(before.segments),
        corrupt: now.corrupt.saturating_sub(before.corrupt),
        speeds,
        behind,
    }
}

/// `360p 3.1x, 240p 5.0x`.
pub(super) fn speeds_text(speeds: &[(String, f64)]) -> String {
    speeds
        .iter()
        .map(|(r, s)| format!("{r} {s:.1}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(media_ms: u64, frames: u64) -> Reading {
        Reading {
            media_ms,
            frames,
            segments: frames / 60,
            corrupt: 0,
            sessions: 1,
            publishing: true,
            published: Duration::ZERO,
        }
    }

    const WINDOW: Duration = Duration::from_secs(30);

    #[test]
    fn a_channel_at_real_time_is_not_behind() {
        let s = assess(
            reading(10_000, 300),
            reading(40_000, 1200),
            WINDOW,
            WINDOW,
            vec![("360p".into(), 3.2), ("240p".into(), 6.0)],
            true,
        );
        let Status::Running {
            rate, fps, behind, ..
        } = s
        else {
            panic!("{s:?}")
        };
        assert!((rate - 1.0).abs() < 1e-9 && (fps - 30.0).abs() < 1e-9);
        assert_eq!(behind, None);
    }

    #[test]
    fn a_slow_encoder_is_blamed_before_the_source() {
        let s = assess(
            reading(0, 0),
            reading(24_000, 720),
            WINDOW,
            WINDOW,
            vec![("1080p".into(), 0.8), ("360p".into(), 3.0)],
            true,
        );
        assert!(
            matches!(&s, Status::Running { behind: Some(Behind::Encoders(r)), .. } if r == &["1080p".to_string()]),
            "{s:?}"
        );
    }

    #[test]
    fn a_slow_source_is_told_only_in_a_steady_window() {
        let speeds = vec![("360p".to_string(), 3.0)];
        let slow = |steady| {
            assess(
                reading(0, 0),
                reading(20_000, 600),
                WINDOW,
                WINDOW,
                speeds.clone(),
                steady,
            )
        };
        assert!(matches!(
            slow(true),
            Status::Running {
                behind: Some(Behind::Source),
                ..
            }
        ));
        // The window a session started in.
        assert!(matches!(slow(false), Status::Running { behind: None, .. }));
        // A window a session ended in, or one replaced by the next.
        let ended = Reading {
            publishing: false,
            ..reading(20_000, 600)
        };
        let replaced = Reading {
            sessions: 2,
            ..reading(20_000, 600)
        };
        for now in [ended, replaced] {
            let s = assess(reading(0, 0), now, WINDOW, WINDOW, speeds.clone(), true);
            assert!(matches!(s, Status::Running { behind: None, .. }), "{s:?}");
        }
    }

    #[test]
    fn a_new_session_and_a_quiet_window_are_read_right() {
        // Two 5 s publishes in one window, 10 s of it published: every
        // session's media counts (the last one's alone read 0.55x).
        let s = assess(
            reading(50_000, 1500),
            Reading {
                sessions: 3,
                ..reading(60_000, 1800)
            },
            WINDOW,
            Duration::from_secs(10),
            vec![],
            true,
        );
        assert!(
            matches!(s, Status::Running { rate, .. } if (rate - 1.0).abs() < 1e-9),
            "{s:?}"
        );
        assert_eq!(
            assess(
                reading(5_000, 150),
                reading(5_000, 150),
                WINDOW,
                WINDOW,
                vec![],
                true
            ),
            Status::Idle
        );
        assert_eq!(
            speeds_text(&[("360p".into(), 3.12), ("240p".into(), 6.0)]),
            "360p 3.1x, 240p 6.0x"
        );
    }

    #[test]
    fn the_rate_counts_the_time_a_publisher_was_connected() {
        // A publish that started 18 s before the end of the window and kept
        // real time.
        let s = assess(
            Reading {
                publishing: false,
                ..reading(0, 0)
            },
            reading(18_000, 540),
            WINDOW,
            Duration::from_secs(18),
            vec![("360p".into(), 3.0)],
            false,
        );
        assert!(
            matches!(&s, Status::Running { rate, behind: None, .. } if (rate - 1.0).abs() < 1e-9),
            "{s:?}"
        );
        // One that ended inside the window, 12 s after its start.
        let ended = Reading {
            publishing: false,
            ..reading(12_000, 360)
        };
        let s = assess(
            reading(0, 0),
            ended,
            WINDOW,
            Duration::from_secs(12),
            vec![],
            true,
        );
        assert!(
            matches!(s, Status::Running { rate, .. } if (rate - 1.0).abs() < 1e-9),
            "{s:?}"
        );
    }
}
