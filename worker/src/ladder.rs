//! Fitting a ladder profile to a real source: which renditions run, at what
//! size and frame rate.

use ff::Rational;
use ffmpeg_next as ff;
use livefleet_profile::{FrameRate, LadderProfile, VideoRendition};

use crate::encoder::VideoSettings;
use crate::threads::{encoder_threads, EncoderLoad, Pace};

/// One video rendition as it will really be encoded (or copied).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedVideo {
    pub rendition: VideoRendition,
    /// Output size: the profile's box with the source's aspect ratio kept (even numbers).
    pub width: u32,
    pub height: u32,
    /// Output frame rate (the source's, or the profile's when lower).
    pub frame_rate: Rational,
}

/// The renditions kept for a source, and the ones dropped with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub video: Vec<PlannedVideo>,
    pub dropped: Vec<(String, String)>,
}

/// Fits `profile` to a `src_w` x `src_h` source at `src_fps`.
///
/// A rendition larger than the source in either dimension is dropped (with a
/// reason) unless the profile sets `allow_upscale`. The output keeps the
/// source's display aspect ratio inside the profile's width x height box.
pub fn plan(profile: &LadderProfile, src_w: u32, src_h: u32, src_fps: Rational) -> Plan {
    let mut video = Vec::new();
    let mut dropped = Vec::new();
    for r in &profile.video {
        if r.passthrough {
            video.push(PlannedVideo {
                rendition: r.clone(),
                width: src_w,
                height: src_h,
                frame_rate: src_fps,
            });
            continue;
        }
        if !profile.allow_upscale && (r.width > src_w || r.height > src_h) {
            dropped.push((
                r.name.to_string(),
                format!(
                    "{}x{} is larger than the {src_w}x{src_h} source (allow_upscale is false)",
                    r.width, r.height
                ),
            ));
            continue;
        }
        let (width, height) = fit_within(src_w, src_h, r.width, r.height);
        let frame_rate = output_rate(r, src_fps);
        video.push(PlannedVideo {
            rendition: r.clone(),
            width,
            height,
            frame_rate,
        });
    }
    Plan { video, dropped }
}

/// The ladder a session runs: every video rendition as planned, with its
/// encoder settings (`None` for the passthrough rendition).
///
/// The first session of a broadcast decides which renditions exist (players
/// read the multivariant playlist once, so the set cannot change); a later
/// session whose source has another size fits the same renditions to it
/// ([`Ladder::refit`]).
#[derive(Debug, Clone)]
pub struct Ladder {
    pub video: Vec<PlannedVideo>,
    pub settings: Vec<Option<VideoSettings>>,
    /// Live or a file: decides the encoders' threads.
    pub pace: Pace,
}

impl Ladder {
    /// The ladder for a broadcast's first session, and the renditions dropped (name, reason).
    pub fn first(
        profile: &LadderProfile,
        src_w: u32,
        src_h: u32,
        src_fps: Rational,
        pace: Pace,
    ) -> (Self, Vec<(String, String)>) {
        let p = plan(profile, src_w, src_h, src_fps);
        (Self::with_settings(profile, p.video, pace), p.dropped)
    }

    /// The same renditions fitted to a new source: passthrough at the source's
    /// size, the others inside their box and never above the source unless the
    /// profile allows upscaling.
    pub fn refit(
        &self,
        profile: &LadderProfile,
        src_w: u32,
        src_h: u32,
        src_fps: Rational,
    ) -> Self {
        let video = self
            .video
            .iter()
            .map(|v| {
                let r = &v.rendition;
                if r.passthrough {
                    return PlannedVideo {
                        rendition: r.clone(),
                        width: src_w,
                        height: src_h,
                        frame_rate: src_fps,
                    };
                }
                let (bw, bh) = if profile.allow_upscale {
                    (r.width, r.height)
                } else {
                    (r.width.min(src_w), r.height.min(src_h))
                };
                let (width, height) = fit_within(src_w, src_h, bw, bh);
                PlannedVideo {
                    rendition: r.clone(),
                    width,
                    height,
                    frame_rate: output_rate(r, src_fps),
                }
            })
            .collect();
        Self::with_settings(profile, video, self.pace)
    }

    /// Whether nothing would be encoded or copied.
    pub fn is_empty(&self) -> bool {
        self.video.is_empty()
    }

    fn with_settings(profile: &LadderProfile, video: Vec<PlannedVideo>, pace: Pace) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let loads: Vec<_> = video
            .iter()
            .map(|v| EncoderLoad {
                width: v.width,
                height: v.height,
                frame_rate: f64::from(v.frame_rate),
                passthrough: v.rendition.passthrough,
            })
            .collect();
        let settings = encoder_threads(&loads, cores, pace, profile.preset)
            .into_iter()
            .zip(&video)
            .map(|(threads, v)| {
                (!v.rendition.passthrough).then(|| VideoSettings {
                    width: v.width,
                    height: v.height,
                    frame_rate: v.frame_rate,
                    bitrate: v.rendition.bitrate,
                    max_bitrate: v.rendition.max_bitrate.max(v.rendition.bitrate),
                    gop_frames: gop_frames(profile.gop, v.frame_rate),
                    codec: v.rendition.codec,
                    h264_profile: v.rendition.h264_profile,
                    level: v.rendition.level.clone(),
                    preset: profile.preset,
                    threads,
                })
            })
            .collect();
        Self {
            video,
            settings,
            pace,
        }
    }
}

fn gop_frames(gop_seconds: f64, fps: Rational) -> u32 {
    (gop_seconds * f64::from(fps)).round().max(1.0) as u32
}

/// A rendition's frame rate: the source's, or the profile's when lower.
fn output_rate(r: &VideoRendition, src_fps: Rational) -> Rational {
    match r.frame_rate {
        FrameRate::Source => src_fps,
        FrameRate::Fixed(f) if f64::from(src_fps) > 0.0 && f < f64::from(src_fps) => {
            rational_fps(f)
        }
        FrameRate::Fixed(_) => src_fps,
    }
}

/// Largest even size inside `box_w` x `box_h` with the aspect ratio of `src_w` x `src_h`.
pub fn fit_within(src_w: u32, src_h: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    if src_w == 0 || src_h == 0 {
        return (box_w & !1, box_h & !1);
    }
    let (sw, sh) = (u64::from(src_w), u64::from(src_h));
    let (mut w, mut h) = (u64::from(box_w), u64::from(box_h));
    if w * sh > h * sw {
        w = (h * sw + sh / 2) / sh;
    } else {
        h = (w * sh + sw / 2) / sw;
    }
    let even = |x: u64| (x.max(2) & !1) as u32;
    (even(w), even(h))
}

/// 29.97 -> 30000/1001, 25 -> 25/1.
pub fn rational_fps(f: f64) -> Rational {
    let ntsc = (f * 1001.0 / 1000.0).round();
    if ntsc > 0.0 && ((ntsc * 1000.0 / 1001.0) - f).abs() < 0.005 && f.fract() != 0.0 {
        return Rational::new((ntsc as i32) * 1000, 1001);
    }
    let scaled = (f * 1000.0).round() as i32;
    Rational::new(scaled, 1000).reduce()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_even_sizes() {
        assert_eq!(fit_within(1920, 1080, 1280, 720), (1280, 720));
        assert_eq!(fit_within(640, 480, 1280, 720), (960, 720));
        assert_eq!(fit_within(1080, 1920, 640, 360), (202, 360));
        assert_eq!(fit_within(0, 0, 641, 361), (640, 360));
    }

    #[test]
    fn ntsc_rates_are_exact() {
        assert_eq!(rational_fps(29.97), Rational::new(30000, 1001));
        assert_eq!(rational_fps(25.0), Rational::new(25, 1));
        assert_eq!(rational_fps(12.5), Rational::new(25, 2));
    }

    #[test]
    fn upscales_are_dropped_unless_allowed() {
        let yaml = "name: t\nsegment_duration: 2\ngop: 2\nencoder: x264\nvideo:\n  - name: big\n    width: 1280\n    height: 720\n    bitrate: 3M\n  - name: small\n    width: 640\n    height: 360\n    bitrate: 800k\naudio: []\n";
        let mut p = LadderProfile::from_yaml("t", yaml).unwrap();
        let fps = Rational::new(30, 1);
        let out = plan(&p, 640, 360, fps);
        assert_eq!(out.video.len(), 1);
        assert_eq!(out.dropped[0].0, "big");
        p.allow_upscale = true;
        assert_eq!(plan(&p, 640, 360, fps).video.len(), 2);
    }
}
