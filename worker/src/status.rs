//! A live channel's status line, logged at a steady pace while it runs: what
//! an operator reading the log wants to know without a dashboard. Is media
//! coming in at real time, does every rendition's encoder keep up, how much
//! was written, was anything corrupt. When a channel falls behind, the line
//! says whose fault it is: an encoder slower than real time (the node has
//! too little CPU or GPU for its channels), or media arriving slower than
//! real time while every encoder keeps up (the publisher's uplink or
//! encoder).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use crate::progress::Progress;

/// Media arriving at less than this share of real time, every encoder
/// keeping up, is told as the publisher's doing.
const SLOW_SOURCE: f64 = 0.9;

/// The counters a status line is made from, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Reading {
    /// Media time of the running session (it starts again at 0 each session).
    pub media_ms: u64,
    pub frames: u64,
    pub segments: u64,
    pub corrupt: u64,
    pub sessions: u64,
    pub publishing: bool,
}

impl Reading {
    fn of(progress: &Progress) -> Self {
        Self {
            media_ms: progress.media_ms.load(Ordering::Relaxed),
            frames: progress.frames_decoded.load(Ordering::Relaxed),
            segments: progress.segments_written.load(Ordering::Relaxed),
            corrupt: progress.corrupt_packets.load(Ordering::Relaxed),
            sessions: progress.sessions.load(Ordering::Relaxed),
            publishing: progress.publishing.load(Ordering::Relaxed),
        }
    }
}

/// What one window of a channel's life comes to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Status {
    /// Media came in during the window.
    Running {
        /// Media made per second of wall time.
        rate: f64,
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

/// The window from `before` to `now` (`wall` long). `steady`: the window
/// before had media too. A low rate is blamed on the source only in a steady
/// window that one publish session ran through: one that started, ended or
/// was replaced inside it made less media for that reason alone.
pub(crate) fn assess(
    before: Reading,
    now: Reading,
    wall: Duration,
    speeds: Vec<(String, f64)>,
    steady: bool,
) -> Status {
    let frames = now.frames.saturating_sub(before.frames);
    let secs = wall.as_secs_f64();
    if frames == 0 || secs <= 0.0 {
        return Status::Idle;
    }
    // A new session starts its media time at 0 again.
    let media_ms = if now.sessions == before.sessions {
        now.media_ms.saturating_sub(before.media_ms)
    } else {
        now.media_ms
    };
    let rate = media_ms as f64 / 1000.0 / secs;
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
        fps: frames as f64 / secs,
        segments: now.segments.saturating_sub(before.segments),
        corrupt: now.corrupt.saturating_sub(before.corrupt),
        speeds,
        behind,
    }
}

/// `360p 3.1x, 240p 5.0x`.
fn speeds_text(speeds: &[(String, f64)]) -> String {
    speeds
        .iter()
        .map(|(r, s)| format!("{r} {s:.1}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn log(status: &Status, every: Duration, was_idle: bool) {
    match status {
        Status::Idle if !was_idle => {
            tracing::info!("live status: no media in the last {every:?}");
        }
        Status::Idle => {}
        Status::Running {
            rate,
            fps,
            segments,
            corrupt,
            speeds,
            behind,
        } => {
            let encode_speed = if speeds.is_empty() {
                "not measured yet".to_string()
            } else {
                speeds_text(speeds)
            };
            tracing::info!(
                rate = format_args!("{rate:.2}x"),
                fps = format_args!("{fps:.1}"),
                segments,
                corrupt_packets = corrupt,
                encode_speed = %encode_speed,
                "live status"
            );
            match behind {
                Some(Behind::Encoders(slow)) => tracing::warn!(
                    renditions = %slow.join(", "),
                    "encoding slower than real time: this node has too little CPU or GPU for its channels (livefleet_worker_encode_speed_ratio)"
                ),
                Some(Behind::Source) => tracing::warn!(
                    rate = format_args!("{rate:.2}x"),
                    "media arrive slower than real time while every encoder keeps up: the publisher's uplink or encoder"
                ),
                None => {}
            }
        }
    }
}

/// Logs a channel's status every `every` until dropped.
pub(crate) struct StatusLog {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StatusLog {
    /// Starts the status thread inside `span` (the channel's).
    pub fn start(every: Duration, progress: Arc<Progress>, span: tracing::Span) -> Self {
        let (stop, stopped) = bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("status".into())
            .spawn(move || {
                let _e = span.enter();
                let mut before = (Instant::now(), Reading::of(&progress));
                let mut was_idle = true;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let now = (Instant::now(), Reading::of(&progress));
                    let speeds = progress
                        .meter
                        .as_ref()
                        .map(|m| m.encode_speeds())
                        .unwrap_or_default();
                    let status = assess(before.1, now.1, now.0 - before.0, speeds, !was_idle);
                    log(&status, every, was_idle);
                    was_idle = status == Status::Idle;
                    before = now;
                }
            });
        match thread {
            Ok(thread) => Self {
                stop: Some(stop),
                thread: Some(thread),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the channel's status thread; no status lines");
                Self {
                    stop: None,
                    thread: None,
                }
            }
        }
    }
}

impl Drop for StatusLog {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
        }
    }

    const WINDOW: Duration = Duration::from_secs(30);

    #[test]
    fn a_channel_at_real_time_is_not_behind() {
        let s = assess(
            reading(10_000, 300),
            reading(40_000, 1200),
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
            let s = assess(reading(0, 0), now, WINDOW, speeds.clone(), true);
            assert!(matches!(s, Status::Running { behind: None, .. }), "{s:?}");
        }
    }

    #[test]
    fn a_new_session_and_a_quiet_window_are_read_right() {
        // The media time started again at 0 within the window.
        let s = assess(
            reading(50_000, 1500),
            Reading {
                sessions: 2,
                ..reading(29_000, 2370)
            },
            WINDOW,
            vec![],
            true,
        );
        assert!(matches!(s, Status::Running { rate, .. } if (rate - 29.0 / 30.0).abs() < 1e-9));
        assert_eq!(
            assess(
                reading(5_000, 150),
                reading(5_000, 150),
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
}
