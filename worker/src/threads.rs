//! How many threads each libx264 encoder of a ladder gets.
//!
//! A file (`transcode`) goes as fast as the cores allow: threads by each
//! rendition's share of the ladder's pixels, so that the largest one, which
//! paces the whole ladder, gets the cores the small ones leave idle. Live
//! media comes at real time and a node runs many channels: an encoder that
//! one thread keeps well ahead of real time gets one thread, and the CPU
//! that slice or frame threads would cost goes to other channels
//! (`docs/design/worker-cpu.md`, "Live").

use livefleet_profile::Preset;

/// What an encoder's thread count depends on: its picture and rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderLoad {
    pub width: u32,
    pub height: u32,
    pub frame_rate: f64,
    /// A copied rendition: no encoder, counts for nothing.
    pub passthrough: bool,
}

/// How fast a session's media comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Live: at real time, on a node shared by many channels.
    RealTime,
    /// A file: as fast as it can be read.
    Unbounded,
}

/// Pixels per second one libx264 thread encodes at three times real time or
/// faster at `preset`, measured with `testsrc2` on the 2-core development
/// machine (5 s, one thread): ultrafast 1080p30 in 1.7 s, veryfast 720p30 in
/// 1.6 s, faster 720p30 in 2.7 s, medium 720p30 in 3.8 s.
fn one_thread_rate(preset: Preset) -> f64 {
    match preset.level() {
        1 => 1920.0 * 1080.0 * 30.0,
        2 | 3 => 1280.0 * 720.0 * 30.0,
        _ => 640.0 * 360.0 * 30.0,
    }
}

/// Encoder threads per rendition of `video` (passthrough renditions count
/// for nothing) on `cores` cores.
pub fn encoder_threads(
    video: &[EncoderLoad],
    cores: usize,
    pace: Pace,
    preset: Preset,
) -> Vec<usize> {
    let pixels = |v: &EncoderLoad| f64::from(v.width) * f64::from(v.height);
    let total: f64 = video
        .iter()
        .filter(|v| !v.passthrough)
        .map(pixels)
        .sum::<f64>()
        .max(1.0);
    video
        .iter()
        .map(|v| {
            let rate = pixels(v) * v.frame_rate.max(1.0);
            if pace == Pace::RealTime && rate <= one_thread_rate(preset) {
                return 1;
            }
            let share = pixels(v) / total;
            ((cores as f64 * 1.5 * share).ceil() as usize).clamp(1, cores * 2)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder(sizes: &[(u32, u32)]) -> Vec<EncoderLoad> {
        sizes
            .iter()
            .map(|&(width, height)| EncoderLoad {
                width,
                height,
                frame_rate: 30.0,
                passthrough: false,
            })
            .collect()
    }

    #[test]
    fn files_share_the_cores_by_pixels() {
        let v = ladder(&[(1920, 1080), (1280, 720), (854, 480), (640, 360)]);
        let veryfast = Preset::new(3).unwrap();
        assert_eq!(
            encoder_threads(&v, 2, Pace::Unbounded, veryfast),
            vec![2, 1, 1, 1]
        );
        let small = ladder(&[(640, 360), (426, 240)]);
        assert_eq!(
            encoder_threads(&small, 2, Pace::Unbounded, Preset::FASTEST),
            vec![3, 1]
        );
    }

    #[test]
    fn live_encoders_that_one_thread_keeps_ahead_get_one() {
        let small = ladder(&[(640, 360), (426, 240)]);
        assert_eq!(
            encoder_threads(&small, 2, Pace::RealTime, Preset::FASTEST),
            vec![1, 1]
        );
        // veryfast: 720p30 on one thread, 1080p30 by its share.
        let v = ladder(&[(1920, 1080), (1280, 720), (640, 360)]);
        let veryfast = Preset::new(3).unwrap();
        assert_eq!(
            encoder_threads(&v, 2, Pace::RealTime, veryfast),
            vec![2, 1, 1]
        );
        // medium: only up to 360p30 on one thread.
        let medium = Preset::new(6).unwrap();
        assert_eq!(
            encoder_threads(&v, 8, Pace::RealTime, medium),
            vec![8, 4, 1]
        );
    }
}
