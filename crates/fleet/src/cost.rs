//! What a channel costs a node: NVENC sessions and encoded pixels per second.

use livefleet_profile::{EncoderChoice, LadderProfile};
use serde::{Deserialize, Serialize};

/// Frame rate assumed for `frame_rate: source` when the source is not known yet.
pub const DEFAULT_SOURCE_FPS: f64 = 30.0;

/// The source's picture, as the ingest sees it in the stream's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SourceVideo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
}

/// The cost of running one channel's ladder, which placement weighs against
/// each node's free capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCost {
    /// NVENC sessions on a GPU node: one per encoded (non-passthrough) video
    /// rendition.
    pub nvenc_sessions: u32,
    /// Encoded pixels per second summed over the encoded renditions.
    pub pixel_rate: u64,
    /// The ladder may run on libx264 (a CPU-only node, or a GPU node's CPU).
    pub cpu_allowed: bool,
    /// The ladder may run on NVENC (false for `encoder: x264`).
    pub nvenc_allowed: bool,
    /// An HEVC rendition makes NVENC necessary.
    pub needs_nvenc: bool,
}

impl ChannelCost {
    /// The cost of `profile` for a source of `(width, height, fps)`, or for an
    /// unknown source (every rendition kept, `frame_rate: source` counted as
    /// 30 fps). With a known source, renditions the worker will drop (larger
    /// than the source, without `allow_upscale`) are not counted.
    pub fn of(profile: &LadderProfile, source: Option<(u32, u32, f64)>) -> ChannelCost {
        let (renditions, fps) = match source {
            Some((w, h, fps)) => {
                let fps = if fps.is_finite() && fps > 0.0 {
                    fps
                } else {
                    DEFAULT_SOURCE_FPS
                };
                (profile.video_for_source(w, h), fps)
            }
            None => (profile.video.iter().collect(), DEFAULT_SOURCE_FPS),
        };
        let encoded = renditions.iter().filter(|v| !v.passthrough);
        let (sessions, pixels) = encoded.fold((0u32, 0f64), |(n, px), v| {
            (
                n.saturating_add(1),
                px + v.pixels() as f64 * v.frame_rate.effective(fps),
            )
        });
        let needs_nvenc = profile.uses_hevc() || profile.encoder == EncoderChoice::Nvenc;
        ChannelCost {
            nvenc_sessions: sessions,
            pixel_rate: if pixels.is_finite() && pixels > 0.0 {
                pixels.round().min(u64::MAX as f64) as u64
            } else {
                0
            },
            cpu_allowed: profile.allow_cpu && !needs_nvenc,
            nvenc_allowed: profile.encoder != EncoderChoice::X264,
            needs_nvenc,
        }
    }

    /// A cost given directly (simulations, benchmarks, tests).
    pub fn new(nvenc_sessions: u32, pixel_rate: u64, cpu_allowed: bool) -> ChannelCost {
        ChannelCost {
            nvenc_sessions,
            pixel_rate,
            cpu_allowed,
            nvenc_allowed: true,
            needs_nvenc: !cpu_allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(yaml: &str) -> LadderProfile {
        LadderProfile::from_yaml("<test>", yaml).unwrap()
    }

    #[test]
    fn counts_one_session_per_encoded_rendition() {
        let p = profile(
            "name: t\nvideo:\n  - { name: src, passthrough: true }\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n  - { name: 360p, width: 640, height: 360, bitrate: 730k, frame_rate: 15 }\n",
        );
        let c = ChannelCost::of(&p, None);
        assert_eq!(c.nvenc_sessions, 2);
        assert_eq!(c.pixel_rate, 1280 * 720 * 30 + 640 * 360 * 15);
        assert!(c.cpu_allowed && c.nvenc_allowed && !c.needs_nvenc);

        // A 60 fps source doubles the `source` rendition only; a 480p source
        // drops the 720p rendition.
        let c = ChannelCost::of(&p, Some((1920, 1080, 60.0)));
        assert_eq!(c.pixel_rate, 1280 * 720 * 60 + 640 * 360 * 15);
        let c = ChannelCost::of(&p, Some((854, 480, 25.0)));
        assert_eq!((c.nvenc_sessions, c.pixel_rate), (1, 640 * 360 * 15));
        // A nonsense frame rate counts as 30.
        let c = ChannelCost::of(&p, Some((1920, 1080, f64::NAN)));
        assert_eq!(c.pixel_rate, 1280 * 720 * 30 + 640 * 360 * 15);
    }

    #[test]
    fn encoder_choice_and_hevc_rule_the_kind() {
        let nvenc = profile(
            "name: t\nencoder: nvenc\nallow_cpu: false\nvideo:\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n",
        );
        let c = ChannelCost::of(&nvenc, None);
        assert!(c.needs_nvenc && !c.cpu_allowed && c.nvenc_allowed);

        let x264 = profile(
            "name: t\nencoder: x264\nvideo:\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k }\n",
        );
        let c = ChannelCost::of(&x264, None);
        assert!(!c.needs_nvenc && c.cpu_allowed && !c.nvenc_allowed);

        let hevc = profile(
            "name: t\nallow_cpu: false\nvideo:\n  - { name: 720p, width: 1280, height: 720, bitrate: 3000k, codec: hevc }\n",
        );
        let c = ChannelCost::of(&hevc, None);
        assert!(c.needs_nvenc && !c.cpu_allowed);
    }

    #[test]
    fn shipped_profiles_have_costs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ladder-profiles");
        for path in livefleet_profile::profile_files(&dir).unwrap() {
            let p = LadderProfile::load(&path).unwrap();
            let c = ChannelCost::of(&p, None);
            assert_eq!(c.nvenc_sessions, p.encoder_sessions(), "{}", path.display());
            assert!(c.cpu_allowed || c.needs_nvenc, "{}", path.display());
        }
    }
}
