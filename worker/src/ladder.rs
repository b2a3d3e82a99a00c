//! Fitting a ladder profile to a real source: which renditions run, at what
//! size and frame rate.

use ff::Rational;
use ffmpeg_next as ff;
use livefleet_packager::square_pixel_width;
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
        let (box_w, box_h) = oriented_box(r, src_w, src_h);
        if !profile.allow_upscale && (box_w > src_w || box_h > src_h) {
            dropped.push((
                r.name.to_string(),
                format!(
                    "{box_w}x{box_h} is larger than the {src_w}x{src_h} source (allow_upscale is false)"
                ),
            ));
            continue;
        }
        let (width, height) = fit_within(src_w, src_h, box_w, box_h);
        let frame_rate = output_rate(r, src_fps);
        video.push(PlannedVideo {
            rendition: r.clone(),
            width,
            height,
            frame_rate,
        });
    }
    if video.is_empty() {
        if let Some(kept) = smallest_within(profile, src_w, src_h, src_fps) {
            dropped.retain(|(name, _)| *name != kept.rendition.name.to_string());
            tracing::info!(rendition = %kept.rendition.name, width = kept.width, height = kept.height, "every rendition is larger than the source; the smallest is kept at the source's size");
            video.push(kept);
        }
    }
    Plan { video, dropped }
}

/// A source smaller than every rendition still plays: the smallest rendition
/// (by the pixels of its box) fitted inside the source, never above it.
fn smallest_within(
    profile: &LadderProfile,
    src_w: u32,
    src_h: u32,
    src_fps: Rational,
) -> Option<PlannedVideo> {
    let r = profile
        .video
        .iter()
        .filter(|r| !r.passthrough)
        .min_by_key(|r| u64::from(r.width) * u64::from(r.height))?;
    let (bw, bh) = oriented_box(r, src_w, src_h);
    let (width, height) = fit_within(src_w, src_h, bw.min(src_w), bh.min(src_h));
    Some(PlannedVideo {
        rendition: r.clone(),
        width,
        height,
        frame_rate: output_rate(r, src_fps),
    })
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
                let (bw, bh) = oriented_box(r, src_w, src_h);
                let (bw, bh) = if profile.allow_upscale {
                    (bw, bh)
                } else {
                    (bw.min(src_w), bh.min(src_h))
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
                    colour: Default::default(),
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

/// Where the boundary clock puts segments and GOPs (90 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundaryGrid {
    pub segment: i64,
    pub gop: i64,
    /// How early a frame may come and still start one: half a source frame.
    pub early: i64,
    /// The slowest encoded rendition's frame rate (the source's without one).
    pub slowest: Rational,
}

impl Ladder {
    /// Segments and GOPs as whole frames of the slowest encoded rendition
    /// (2.002 s at 29.97 fps): a segment then starts on a frame every
    /// rendition keeps. On a grid of whole seconds, a 59.94 fps source's
    /// first frame past 20 s is a half-way one that its 29.97 fps rendition
    /// drops, and that rendition's segment started a frame later than the
    /// others'.
    pub fn boundary_grid(&self, segment_s: f64, gop_s: f64, source: Rational) -> BoundaryGrid {
        let slowest = self
            .encoded_rates()
            .min_by(|a, b| f64::from(*a).total_cmp(&f64::from(*b)))
            .unwrap_or(source);
        let whole = |seconds: f64| -> i64 {
            let frames = i128::from(gop_frames(seconds, slowest));
            let ticks = frames * 90_000 * i128::from(slowest.denominator())
                / i128::from(slowest.numerator().max(1));
            ticks.clamp(1, i128::from(i64::MAX)) as i64
        };
        let early = if source.numerator() > 0 && source.denominator() > 0 {
            i64::from(source.denominator()) * 45_000 / i64::from(source.numerator())
        } else {
            0
        };
        BoundaryGrid {
            segment: whole(segment_s),
            gop: whole(gop_s),
            early,
            slowest,
        }
    }
}

impl Ladder {
    /// The frame rate of the fastest encoded rendition (`None`: none is encoded).
    pub fn fastest_encoded_rate(&self) -> Option<Rational> {
        self.encoded_rates()
            .max_by(|a, b| f64::from(*a).total_cmp(&f64::from(*b)))
    }

    fn encoded_rates(&self) -> impl Iterator<Item = Rational> + '_ {
        self.settings
            .iter()
            .flatten()
            .map(|s| s.frame_rate)
            .filter(|r| r.numerator() > 0 && r.denominator() > 0)
    }
}

fn gop_frames(gop_seconds: f64, fps: Rational) -> u32 {
    (gop_seconds * f64::from(fps)).round().max(1.0) as u32
}

/// A rendition's frame rate: the source's, or under the profile's cap when
/// the source is faster. Under a cap the source's rate is divided by the
/// smallest whole number that brings it there (50 -> 25, 59.94 -> 29.97,
/// 120 -> 30), so every kept frame is a source frame at an even pace: 50
/// fps taken to 30 drops two frames in five, unevenly, and motion judders.
/// Where that falls more than a fifth below the cap (30 under a cap of 24
/// would be 15), the cap itself, as the profile asks.
fn output_rate(r: &VideoRendition, src_fps: Rational) -> Rational {
    let src = f64::from(src_fps);
    match r.frame_rate {
        FrameRate::Fixed(cap) if src > 0.0 && cap < src => {
            let divisor = (src / cap - 1e-6).ceil().max(1.0);
            if src / divisor >= 0.8 * cap {
                Rational::new(src_fps.numerator(), src_fps.denominator() * divisor as i32).reduce()
            } else {
                rational_fps(cap)
            }
        }
        FrameRate::Source | FrameRate::Fixed(_) => src_fps,
    }
}

/// The size a `width` x `height` picture with sample aspect ratio `sar` is
/// shown at, in square pixels: the height kept, the width stretched
/// ([`livefleet_packager::square_pixel_width`]: an HDV 1440x1080 at 4:3 is
/// shown 1920x1080). Renditions are planned on it and encoded with square
/// pixels, as players show them.
pub fn shown_size(width: u32, height: u32, sar: Rational) -> (u32, u32) {
    (square_pixel_width(width, pixel_aspect(sar)), height)
}

/// A decoder's sample aspect ratio as a `pasp` ratio: an unknown (0) or
/// implausible one (beyond 1:4 to 4:1, no real format) counts as square.
pub fn pixel_aspect(sar: Rational) -> (u32, u32) {
    let (num, den) = (sar.numerator(), sar.denominator());
    if num <= 0 || den <= 0 || num == den {
        return (1, 1);
    }
    let ratio = f64::from(num) / f64::from(den);
    if !(0.25..=4.0).contains(&ratio) {
        tracing::warn!(sar = %format!("{num}:{den}"), "implausible sample aspect ratio ignored; pixels taken as square");
        return (1, 1);
    }
    (num as u32, den as u32)
}

/// A rendition's box turned to the source's orientation. Profiles describe
/// rungs as landscape boxes (1280x720); a phone publishes portrait
/// (1080x1920). Fitted as written, such a source would lose every rung wider
/// than it and keep the rest as strips (202x360 from a 640x360 box): turned,
/// the same box gives 720x1280 for the same pixels, bitrate and encoder cost.
/// A square source or a square box is left as it is.
fn oriented_box(r: &VideoRendition, src_w: u32, src_h: u32) -> (u32, u32) {
    let portrait = |w: u32, h: u32| h > w;
    let square = src_w == src_h || r.width == r.height;
    if !square && portrait(src_w, src_h) != portrait(r.width, r.height) {
        (r.height, r.width)
    } else {
        (r.width, r.height)
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
#[path = "ladder_tests.rs"]
mod tests;
