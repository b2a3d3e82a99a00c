//! The live window arguments `dev` and `worker` share: what the live
//! manifests list, and so how long a segment stays stored when the
//! broadcast is not archived.

use livefleet_worker::channel::LiveTiming;

/// What the live playlists and the MPD list.
#[derive(clap::Args, Debug, Clone)]
pub struct WindowArgs {
    /// Segments the live playlists list (without --dvr-window). Without the
    /// archive, a segment is deleted once it has been out of them for as
    /// long again plus a segment.
    #[arg(long, default_value_t = 6)]
    pub live_window: usize,
    /// List the last this-many seconds instead, so viewers can rewind (the
    /// MPD's timeShiftBufferDepth).
    #[arg(long)]
    pub dvr_window: Option<f64>,
}

impl WindowArgs {
    /// `timing` with these windows; refuses a window of nothing.
    pub fn apply(&self, timing: LiveTiming) -> anyhow::Result<LiveTiming> {
        anyhow::ensure!(
            (1..=10_000).contains(&self.live_window),
            "--live-window must be 1 to 10000 segments, not {}",
            self.live_window
        );
        if let Some(d) = self.dvr_window {
            anyhow::ensure!(
                d.is_finite() && d > 0.0 && d <= 86_400.0,
                "--dvr-window must be more than 0 and at most 86400 seconds, not {d}"
            );
        }
        Ok(LiveTiming {
            live_window: self.live_window,
            dvr_window: self.dvr_window,
            ..timing
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_of_nothing_are_refused_and_good_ones_applied() {
        let args = |live_window, dvr_window| WindowArgs {
            live_window,
            dvr_window,
        };
        let t = args(3, Some(30.0)).apply(LiveTiming::default()).unwrap();
        assert_eq!((t.live_window, t.dvr_window), (3, Some(30.0)));
        assert_eq!(t.grace, LiveTiming::default().grace);
        for bad in [args(0, None), args(3, Some(0.0)), args(3, Some(f64::NAN))] {
            let e = bad.apply(LiveTiming::default()).unwrap_err().to_string();
            assert!(e.contains("window"), "{e}");
        }
    }
}
