//! A live channel's status line, logged at a steady pace while it runs: what
//! an operator reading the log wants to know without a dashboard. Is media
//! coming in at real time, does every rendition's encoder keep up, how much
//! was written, was anything corrupt. When a channel falls behind, the line
//! says whose fault it is: an encoder slower than real time (the node has
//! too little CPU or GPU for its channels), or media arriving slower than
//! real time while every encoder keeps up (the publisher's uplink or
//! encoder).

mod window;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use crate::progress::Progress;
use window::{assess, speeds_text, Behind, Reading, Status};

fn log(status: &Status, every: Duration, was_idle: bool) {
    match status {
        Status::Idle if !was_idle => {
            tracing::info!("live status: no media in the last {every:?}");
        }
        Status::Idle => {}
        Status::Running {
            rate,
            published,
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
                publishing = format_args!("{:.0}s", published.as_secs_f64()),
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
                    let published = now.1.published.saturating_sub(before.1.published);
                    let speeds = progress
                        .meter
                        .as_ref()
                        .map(|m| m.encode_speeds())
                        .unwrap_or_default();
                    let wall = now.0 - before.0;
                    let status = assess(before.1, now.1, wall, published, speeds, !was_idle);
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
