//! The live arguments `dev` and `worker` share: what the live manifests
//! list (and so how long a segment stays stored when the broadcast is not
//! archived), and how often a live channel logs its status.

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
    /// Seconds between a live channel's status lines in the log (media rate,
    /// frames per second, segments, each rendition's encode speed, and why
    /// the channel falls behind real time when it does); 0: none.
    #[arg(long, default_value_t = 30.0)]
    pub status_every: f64,
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
        anyhow::ensure!(
            self.status_every.is_finite() && (0.0..=86_400.0).contains(&self.status_every),
            "--status-every must be 0 (no status lines) to 86400 seconds, not {}",
            self.status_every
        );
        Ok(LiveTiming {
            live_window: self.live_window,
            dvr_window: self.dvr_window,
            status_every: (self.status_every > 0.0)
                .then(|| crate::config::seconds(self.status_every.max(1.0))),
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
            status_every: 30.0,
        };
        let t = args(3, Some(30.0)).apply(LiveTiming::default()).unwrap();
        assert_eq!((t.live_window, t.dvr_window), (3, Some(30.0)));
        assert_eq!(t.grace, LiveTiming::default().grace);
        for bad in [args(0, None), args(3, Some(0.0)), args(3, Some(f64::NAN))] {
            let e = bad.apply(LiveTiming::default()).unwrap_err().to_string();
            assert!(e.contains("window"), "{e}");
        }
        let every = |s| WindowArgs {
            status_every: s,
            ..args(6, None)
        };
        assert_eq!(
            every(5.0)
                .apply(LiveTiming::default())
                .unwrap()
                .status_every,
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(
            every(0.0)
                .apply(LiveTiming::default())
                .unwrap()
                .status_every,
            None
        );
        for bad in [-1.0, f64::INFINITY, f64::NAN] {
            let e = every(bad)
                .apply(LiveTiming::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("--status-every"), "{e}");
        }
    }
}
