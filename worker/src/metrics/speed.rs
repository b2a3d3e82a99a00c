//! A rendition's encode speed over a window.

use super::RenditionMeter;

/// How often the encode speed gauge is recomputed.
const SPEED_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Measures a rendition's encode speed: media time made against time spent working.
pub struct SpeedWindow {
    started: std::time::Instant,
    media: f64,
    busy: std::time::Duration,
}

impl Default for SpeedWindow {
    fn default() -> Self {
        Self {
            started: std::time::Instant::now(),
            media: 0.0,
            busy: std::time::Duration::ZERO,
        }
    }
}

impl SpeedWindow {
    /// `media` seconds were made in `busy`; reports once per window.
    pub fn add(&mut self, media: f64, busy: std::time::Duration, meter: Option<&RenditionMeter>) {
        self.media += media;
        self.busy += busy;
        if self.started.elapsed() >= SPEED_WINDOW {
            if let Some(m) = meter {
                m.speed(self.media, self.busy.as_secs_f64());
            }
            *self = Self::default();
        }
    }
}
