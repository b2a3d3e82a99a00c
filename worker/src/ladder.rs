//! Fitting a ladder profile to a real source: which renditions run, at what
//! size and frame rate.

use ff::Rational;
use ffmpeg_next as ff;
use livefleet_profile::{FrameRate, LadderProfile, VideoRendition};

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
        let frame_rate = match r.frame_rate {
            FrameRate::Source => src_fps,
            FrameRate::Fixed(f) if f64::from(src_fps) > 0.0 && f < f64::from(src_fps) => {
                rational_fps(f)
            }
            FrameRate::Fixed(_) => src_fps,
        };
        video.push(PlannedVideo {
            rendition: r.clone(),
            width,
            height,
            frame_rate,
        });
    }
    Plan { video, dropped }
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
