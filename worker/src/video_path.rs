//! Which of the four video paths a session runs, and where a failed one
//! falls back to. Pure: the GPU pieces come in as "works" or "why not", so
//! every rule is tested on machines without a GPU.
//!
//! | path | decode | scale | encode | host CPU |
//! | --- | --- | --- | --- | --- |
//! | `zero_copy` | NVDEC | `scale_cuda` | NVENC from GPU memory | least |
//! | `upload` | CPU | zimg or swscale | NVENC (frames uploaded) | decode + scale |
//! | `hybrid` | NVDEC | `scale_cuda` | libx264 (one download per rendition) | encode |
//! | `cpu` | CPU | zimg or swscale | libx264 | all |
//!
//! The encoder kind is the node's (NVENC where a session opens, see
//! [`crate::encoder::select`]); the profile's `decoder` key decides the
//! decode side: `auto` takes NVDEC where it works, `nvdec` insists, `cpu`
//! never tries.

use std::fmt;

use livefleet_profile::DecoderChoice;

use crate::encoder::EncoderKind;
use crate::hw::GpuError;

/// How a session's video is decoded, scaled and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoPath {
    ZeroCopy,
    Upload,
    Hybrid,
    Cpu,
}

impl VideoPath {
    /// Every path, for metrics and reports.
    pub const ALL: [VideoPath; 4] = [
        VideoPath::ZeroCopy,
        VideoPath::Upload,
        VideoPath::Hybrid,
        VideoPath::Cpu,
    ];

    /// The path of a decode side and an encoder.
    pub fn of(gpu_decode: bool, encoder: EncoderKind) -> VideoPath {
        match (gpu_decode, encoder) {
            (true, EncoderKind::Nvenc) => VideoPath::ZeroCopy,
            (false, EncoderKind::Nvenc) => VideoPath::Upload,
            (true, EncoderKind::X264) => VideoPath::Hybrid,
            (false, EncoderKind::X264) => VideoPath::Cpu,
        }
    }

    /// The word in logs, metrics and `gpu-check`.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoPath::ZeroCopy => "zero_copy",
            VideoPath::Upload => "upload",
            VideoPath::Hybrid => "hybrid",
            VideoPath::Cpu => "cpu",
        }
    }

    /// The stages, for people.
    pub fn stages(self) -> &'static str {
        match self {
            VideoPath::ZeroCopy => "NVDEC -> scale_cuda -> NVENC",
            VideoPath::Upload => "CPU decode -> zimg/swscale -> NVENC",
            VideoPath::Hybrid => "NVDEC -> scale_cuda -> download -> libx264",
            VideoPath::Cpu => "CPU decode -> zimg/swscale -> libx264",
        }
    }

    /// Whether frames are decoded by NVDEC and scaled by `scale_cuda`.
    pub fn gpu_decode(self) -> bool {
        matches!(self, VideoPath::ZeroCopy | VideoPath::Hybrid)
    }

    pub fn encoder(self) -> EncoderKind {
        match self {
            VideoPath::ZeroCopy | VideoPath::Upload => EncoderKind::Nvenc,
            VideoPath::Hybrid | VideoPath::Cpu => EncoderKind::X264,
        }
    }
}

impl fmt::Display for VideoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The GPU piece a failure is blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuPiece {
    /// NVDEC decoding or `scale_cuda` (the GPU's decode side).
    Decode,
    /// An NVENC session (open, or a frame refused: session limit, device error).
    Nvenc,
    /// The CUDA device itself (lost, out of memory): every GPU piece.
    Device,
}

impl fmt::Display for GpuPiece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GpuPiece::Decode => "NVDEC / scale_cuda",
            GpuPiece::Nvenc => "NVENC",
            GpuPiece::Device => "the CUDA device",
        })
    }
}

/// What this machine offers a session: each GPU piece, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// NVDEC for the source's codec, a CUDA device and `scale_cuda`.
    pub gpu_decode: Result<(), GpuError>,
    /// An NVENC session (the node's encoder selection).
    pub nvenc: Result<(), GpuError>,
}

impl Offer {
    /// Takes `piece` away after it failed with `why`.
    pub fn without(&mut self, piece: GpuPiece, why: &GpuError) {
        let failed = || Err(GpuError::FailedInBroadcast(Box::new(why.clone())));
        match piece {
            GpuPiece::Decode => self.gpu_decode = failed(),
            GpuPiece::Nvenc => self.nvenc = failed(),
            GpuPiece::Device => {
                self.gpu_decode = failed();
                self.nvenc = failed();
            }
        }
    }
}

/// The chosen path and why no better one was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub path: VideoPath,
    /// One line per GPU piece not used, with its reason.
    pub not_used: Vec<String>,
}

/// Why no path fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPath {
    #[error("NVDEC was requested (decoder: nvdec) but cannot decode this source here: {reason}")]
    NvdecUnavailable { reason: GpuError },
    #[error("HEVC needs NVENC, which is not usable: {reason}")]
    HevcNeedsNvenc { reason: GpuError },
}

/// The best path `decoder` allows with what `offer` has. `hevc`: some
/// rendition is HEVC, which only NVENC encodes.
pub fn choose(decoder: DecoderChoice, offer: &Offer, hevc: bool) -> Result<Choice, NoPath> {
    let mut not_used = Vec::new();
    let gpu_decode = match (decoder, &offer.gpu_decode) {
        (DecoderChoice::Cpu, _) => {
            not_used.push("NVDEC not used: the profile says decoder: cpu".to_owned());
            false
        }
        (_, Ok(())) => true,
        (DecoderChoice::Nvdec, Err(reason)) => {
            return Err(NoPath::NvdecUnavailable {
                reason: reason.clone(),
            })
        }
        (DecoderChoice::Auto, Err(reason)) => {
            not_used.push(format!("NVDEC not used: {reason}"));
            false
        }
    };
    let encoder = match &offer.nvenc {
        Ok(()) => EncoderKind::Nvenc,
        Err(reason) if hevc => {
            return Err(NoPath::HevcNeedsNvenc {
                reason: reason.clone(),
            })
        }
        Err(reason) => {
            not_used.push(format!("NVENC not used: {reason}"));
            EncoderKind::X264
        }
    };
    Ok(Choice {
        path: VideoPath::of(gpu_decode, encoder),
        not_used,
    })
}

/// The path after `piece` failed on a running broadcast: the best one left
/// without it. A profile's `decoder: nvdec` gives way here (a channel that
/// keeps running on the CPU beats a dead one); `decoder: cpu` stays.
pub fn after_failure(
    decoder: DecoderChoice,
    offer: &mut Offer,
    piece: GpuPiece,
    why: &GpuError,
    hevc: bool,
) -> Result<Choice, NoPath> {
    offer.without(piece, why);
    let decoder = match decoder {
        DecoderChoice::Nvdec => DecoderChoice::Auto,
        other => other,
    };
    choose(decoder, offer, hevc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(gpu_decode: bool, nvenc: bool) -> Offer {
        let piece = |ok: bool, why: GpuError| if ok { Ok(()) } else { Err(why) };
        Offer {
            gpu_decode: piece(gpu_decode, GpuError::NotChosen("no NVIDIA driver")),
            nvenc: piece(nvenc, GpuError::NotChosen("no NVENC engine")),
        }
    }

    fn why(text: &'static str) -> GpuError {
        GpuError::NotChosen(text)
    }

    #[test]
    fn auto_takes_the_best_path_each_machine_has() {
        let auto = DecoderChoice::Auto;
        let path = |d, e| choose(auto, &offer(d, e), false).unwrap().path;
        assert_eq!(path(true, true), VideoPath::ZeroCopy);
        assert_eq!(path(false, true), VideoPath::Upload);
        assert_eq!(
            path(true, false),
            VideoPath::Hybrid,
            "an H200: NVDEC, no NVENC"
        );
        assert_eq!(path(false, false), VideoPath::Cpu);
    }

    #[test]
    fn without_a_gpu_auto_says_why_each_piece_is_not_used() {
        let c = choose(DecoderChoice::Auto, &offer(false, false), false).unwrap();
        assert_eq!(c.path, VideoPath::Cpu);
        assert_eq!(
            c.not_used,
            [
                "NVDEC not used: no NVIDIA driver",
                "NVENC not used: no NVENC engine"
            ]
        );
    }

    #[test]
    fn the_profile_decoder_key_is_obeyed() {
        let c = choose(DecoderChoice::Cpu, &offer(true, true), false).unwrap();
        assert_eq!(c.path, VideoPath::Upload);
        let e = choose(DecoderChoice::Nvdec, &offer(false, true), false).unwrap_err();
        assert!(e.to_string().contains("no NVIDIA driver"), "{e}");
        assert_eq!(
            choose(DecoderChoice::Nvdec, &offer(true, false), false)
                .unwrap()
                .path,
            VideoPath::Hybrid
        );
    }

    #[test]
    fn hevc_needs_nvenc_on_every_path() {
        let e = choose(DecoderChoice::Auto, &offer(true, false), true).unwrap_err();
        assert!(matches!(e, NoPath::HevcNeedsNvenc { .. }), "{e}");
    }

    #[test]
    fn a_failed_piece_falls_back_to_the_next_path_and_stays_out() {
        let auto = DecoderChoice::Auto;
        let mut o = offer(true, true);
        // NVENC sessions run out mid-broadcast: keep NVDEC, encode with libx264.
        let c = after_failure(auto, &mut o, GpuPiece::Nvenc, &why("session limit"), false).unwrap();
        assert_eq!(c.path, VideoPath::Hybrid);
        assert!(c.not_used[0].contains("session limit"), "{:?}", c.not_used);
        // Then NVDEC fails too: the CPU.
        let c = after_failure(
            auto,
            &mut o,
            GpuPiece::Decode,
            &why("unsupported profile"),
            false,
        )
        .unwrap();
        assert_eq!(c.path, VideoPath::Cpu);

        let mut o = offer(true, true);
        let c = after_failure(auto, &mut o, GpuPiece::Decode, &why("4:2:2 source"), false).unwrap();
        assert_eq!(c.path, VideoPath::Upload);

        let mut o = offer(true, true);
        let c = after_failure(auto, &mut o, GpuPiece::Device, &why("device lost"), false).unwrap();
        assert_eq!(c.path, VideoPath::Cpu);
    }

    #[test]
    fn an_nvdec_profile_falls_back_to_the_cpu_rather_than_die() {
        let mut o = offer(true, false);
        let c = after_failure(
            DecoderChoice::Nvdec,
            &mut o,
            GpuPiece::Decode,
            &why("lost"),
            false,
        )
        .unwrap();
        assert_eq!(c.path, VideoPath::Cpu);
    }

    #[test]
    fn hevc_without_nvenc_after_a_failure_is_a_clear_end() {
        let mut o = offer(true, true);
        let e = after_failure(
            DecoderChoice::Auto,
            &mut o,
            GpuPiece::Nvenc,
            &why("lost"),
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("HEVC needs NVENC"), "{e}");
    }

    #[test]
    fn paths_are_named_for_metrics() {
        let names: Vec<_> = VideoPath::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["zero_copy", "upload", "hybrid", "cpu"]);
        for p in VideoPath::ALL {
            assert_eq!(VideoPath::of(p.gpu_decode(), p.encoder()), p);
        }
    }
}
