//! Encoder selection and set-up: libx264 on the CPU, NVENC through FFmpeg on
//! an NVIDIA GPU.
//!
//! FFmpeg's NVENC encoders are always compiled into Debian's libavcodec; they
//! load the NVIDIA driver libraries only when opened. So the probe is: is a
//! driver library loadable, and does a tiny `h264_nvenc` session open? The
//! first failing step is the reason reported to the operator.

use std::fmt;

use ff::{codec, encoder, format, Dictionary, Rational};
use ffmpeg_next as ff;
use livefleet_profile::{EncoderChoice, H264Profile, LadderProfile, Preset, VideoCodec};

use crate::hw::{CudaDevice, GpuError};

/// Which family of encoders a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    Nvenc,
    X264,
}

impl fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncoderKind::Nvenc => "nvenc",
            EncoderKind::X264 => "x264",
        })
    }
}

/// Why an encoder could not be chosen or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncoderError {
    #[error("NVENC was requested (encoder: nvenc) but is not usable on this machine: {reason}")]
    NvencUnavailable { reason: GpuError },
    #[error("HEVC needs NVENC, which is not usable on this machine: {reason}")]
    HevcNeedsNvenc { reason: GpuError },
    #[error("NVENC on GPU frames: {0}")]
    Gpu(GpuError),
    #[error("FFmpeg has no encoder named {0}")]
    Missing(&'static str),
    #[error("cannot open encoder {encoder} for {what}: {source}")]
    Open {
        encoder: &'static str,
        what: String,
        source: ff::Error,
    },
}

/// An encoder's failure as the GPU's, where the encoder is NVENC.
impl From<EncoderError> for GpuError {
    fn from(e: EncoderError) -> Self {
        match e {
            EncoderError::NvencUnavailable { reason } | EncoderError::HevcNeedsNvenc { reason } => {
                reason
            }
            EncoderError::Gpu(g) => g,
            EncoderError::Missing(name) => GpuError::NoEncoder(name),
            EncoderError::Open {
                encoder,
                what,
                source,
            } => GpuError::EncoderOpen {
                encoder,
                what,
                source,
            },
        }
    }
}

/// The outcome of the start-up probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub kind: EncoderKind,
    /// Why NVENC is not used, when it is not.
    pub nvenc_unavailable: Option<GpuError>,
}

/// Probes once whether NVENC can open an H.264 session here. `Err` carries the reason.
pub fn probe_nvenc() -> Result<(), GpuError> {
    probe_nvenc_codec(VideoCodec::H264)
}

/// Whether NVENC opens a session of `codec` here (`h264_nvenc`, `hevc_nvenc`).
pub fn probe_nvenc_codec(codec: VideoCodec) -> Result<(), GpuError> {
    let name = match codec {
        VideoCodec::H264 => "h264_nvenc",
        VideoCodec::Hevc => "hevc_nvenc",
    };
    if encoder::find_by_name(name).is_none() {
        return Err(GpuError::NoEncoder(name));
    }
    // SAFETY: loading a shared library runs its initialisers; libcuda is the
    // NVIDIA driver's own library, loaded exactly as FFmpeg itself would.
    let loaded = unsafe { libloading::Library::new("libcuda.so.1") };
    if let Err(e) = loaded {
        return Err(GpuError::NoDriver {
            library: "libcuda.so.1",
            detail: e.to_string(),
        });
    }
    let settings = VideoSettings {
        width: 256,
        height: 144,
        frame_rate: Rational::new(30, 1),
        bitrate: 300_000,
        max_bitrate: 400_000,
        gop_frames: 60,
        codec,
        h264_profile: H264Profile::Main,
        level: None,
        preset: Preset::default(),
        threads: 1,
        colour: Default::default(),
    };
    open_video(
        EncoderKind::Nvenc,
        &settings,
        "probe",
        FrameInput::System(format::Pixel::YUV420P),
    )
    .map(|_| ())
    .map_err(|e| match e {
        EncoderError::Open { source, .. } => GpuError::NvencSession {
            encoder: name,
            source,
        },
        other => other.into(),
    })
}

/// Decides the encoder family for a profile on this machine.
///
/// `auto` uses NVENC when it works and libx264 otherwise (one `warn` line with
/// the reason); `nvenc` fails with the reason; `x264` never probes.
pub fn select(
    profile: &LadderProfile,
    probe: impl FnOnce() -> Result<(), GpuError>,
) -> Result<Selection, EncoderError> {
    let needs_hevc = profile
        .video
        .iter()
        .any(|v| !v.passthrough && v.codec == VideoCodec::Hevc);
    match profile.encoder {
        EncoderChoice::X264 => Ok(Selection {
            kind: EncoderKind::X264,
            nvenc_unavailable: None,
        }),
        EncoderChoice::Nvenc => match probe() {
            Ok(()) => Ok(Selection {
                kind: EncoderKind::Nvenc,
                nvenc_unavailable: None,
            }),
            Err(reason) => Err(EncoderError::NvencUnavailable { reason }),
        },
        EncoderChoice::Auto => match probe() {
            Ok(()) => Ok(Selection {
                kind: EncoderKind::Nvenc,
                nvenc_unavailable: None,
            }),
            Err(reason) if needs_hevc => Err(EncoderError::HevcNeedsNvenc { reason }),
            Err(reason) => {
                tracing::warn!(%reason, "NVENC not usable; encoding on the CPU with libx264");
                Ok(Selection {
                    kind: EncoderKind::X264,
                    nvenc_unavailable: Some(reason),
                })
            }
        },
    }
}

/// Everything needed to open one video encoder.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub frame_rate: Rational,
    pub bitrate: u64,
    pub max_bitrate: u64,
    /// Keyframe distance in frames; keyframes are also forced by the pipeline.
    pub gop_frames: u32,
    pub codec: VideoCodec,
    pub h264_profile: H264Profile,
    pub level: Option<String>,
    pub preset: Preset,
    pub threads: usize,
    /// The colour description written into the bitstream (`colour.rs`).
    pub colour: crate::colour::Colour,
}

/// The most threads a libx264 encoder runs as slices of one frame.
const MAX_SLICE_THREADS: usize = 4;

/// Time base of every video encoder: the 90 kHz MPEG clock, also the packager's video timescale.
pub const VIDEO_TIME_BASE: Rational = Rational(1, 90_000);

fn encoder_name(kind: EncoderKind, codec: VideoCodec) -> &'static str {
    match (kind, codec) {
        (EncoderKind::X264, VideoCodec::H264) => "libx264",
        (EncoderKind::X264, VideoCodec::Hevc) => "libx265",
        (EncoderKind::Nvenc, VideoCodec::H264) => "h264_nvenc",
        (EncoderKind::Nvenc, VideoCodec::Hevc) => "hevc_nvenc",
    }
}

/// What frames an encoder is fed.
#[derive(Clone, Copy)]
pub enum FrameInput<'a> {
    /// Frames in system memory of this format (YUV 4:2:0 planar, or NV12 downloaded from the GPU).
    System(format::Pixel),
    /// CUDA frames (NV12 inside) from this device, for NVENC: the zero-copy path.
    Cuda(&'a CudaDevice),
}

/// Opens a video encoder that takes `input` frames stamped in
/// [`VIDEO_TIME_BASE`] and emits Annex B packets; its codec configuration is
/// in `extradata` (global header).
pub fn open_video(
    kind: EncoderKind,
    s: &VideoSettings,
    what: &str,
    input: FrameInput<'_>,
) -> Result<encoder::Video, EncoderError> {
    let name = encoder_name(kind, s.codec);
    let codec = encoder::find_by_name(name).ok_or(EncoderError::Missing(name))?;
    let mut ctx = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|source| EncoderError::Open {
            encoder: name,
            what: what.to_owned(),
            source,
        })?;
    ctx.set_width(s.width);
    ctx.set_height(s.height);
    match input {
        FrameInput::System(pixel) => ctx.set_format(pixel),
        FrameInput::Cuda(device) => {
            if kind != EncoderKind::Nvenc {
                return Err(EncoderError::Gpu(GpuError::NoGpuFrames(name)));
            }
            crate::hw::cuda_frames::encode_from_gpu(&mut ctx, device, s.width, s.height)
                .map_err(EncoderError::Gpu)?;
        }
    }
    ctx.set_time_base(VIDEO_TIME_BASE);
    ctx.set_frame_rate(Some(s.frame_rate));
    ctx.set_bit_rate(s.bitrate as usize);
    ctx.set_max_bit_rate(s.max_bitrate as usize);
    ctx.set_flags(codec::Flags::GLOBAL_HEADER);
    s.colour.apply(&mut ctx);
    // VBV buffer of two seconds at the peak rate keeps segments near the declared BANDWIDTH.
    // SAFETY: plain field writes on a context we own and have not opened yet.
    unsafe {
        (*ctx.as_mut_ptr()).rc_buffer_size =
            (s.max_bitrate.saturating_mul(2)).min(i32::MAX as u64) as i32;
    }
    let mut opts = Dictionary::new();
    let profile = match s.h264_profile {
        H264Profile::Baseline => "baseline",
        H264Profile::Main => "main",
        H264Profile::High => "high",
    };
    match kind {
        EncoderKind::X264 => {
            ctx.set_gop(s.gop_frames);
            // Slice threads where a rendition gets 2 to 4 threads: on 2 cores
            // about 15% fewer ladder CPU-seconds than frame threads for the
            // same PSNR, less memory and no frames of threading delay
            // (docs/design/worker-cpu.md). More slices per frame cost
            // compression, so wider encoders keep frame threads.
            ctx.set_threading(codec::threading::Config {
                kind: if (2..=MAX_SLICE_THREADS).contains(&s.threads) {
                    codec::threading::Type::Slice
                } else {
                    codec::threading::Type::Frame
                },
                count: s.threads,
                ..Default::default()
            });
            opts.set("preset", s.preset.x264());
            opts.set("forced-idr", "1");
            // The pipeline forces an IDR at every GOP start; x264 must never place
            // one of its own (scene cuts, or keyint running out on a late frame).
            opts.set(
                "x264-params",
                &format!(
                    "keyint={}:min-keyint=1:scenecut=0:open-gop=0",
                    s.gop_frames.saturating_mul(2).max(2)
                ),
            );
            if s.codec == VideoCodec::H264 {
                opts.set("profile", profile);
            }
        }
        EncoderKind::Nvenc => {
            ctx.set_gop(s.gop_frames.saturating_mul(2).max(2));
            opts.set("preset", s.preset.nvenc());
            opts.set("rc", "vbr");
            opts.set("forced-idr", "1");
            opts.set("strict_gop", "1");
            opts.set("no-scenecut", "1");
            if s.codec == VideoCodec::H264 {
                opts.set("profile", profile);
            }
        }
    }
    if let Some(level) = &s.level {
        opts.set("level", level);
    }
    ctx.open_as_with(codec, opts)
        .map_err(|source| EncoderError::Open {
            encoder: name,
            what: what.to_owned(),
            source,
        })
}

/// Opens FFmpeg's native AAC-LC encoder (planar float input, 1024-sample frames).
pub fn open_aac(
    sample_rate: u32,
    channels: u8,
    bitrate: u64,
    what: &str,
) -> Result<encoder::Audio, EncoderError> {
    let codec = encoder::find(codec::Id::AAC).ok_or(EncoderError::Missing("aac"))?;
    let mut ctx = codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()
        .map_err(|source| EncoderError::Open {
            encoder: "aac",
            what: what.to_owned(),
            source,
        })?;
    ctx.set_rate(sample_rate as i32);
    ctx.set_channel_layout(ff::ChannelLayout::default(i32::from(channels)));
    ctx.set_channels(i32::from(channels));
    ctx.set_format(format::Sample::F32(format::sample::Type::Planar));
    ctx.set_bit_rate(bitrate as usize);
    ctx.set_time_base(Rational::new(1, sample_rate as i32));
    ctx.set_flags(codec::Flags::GLOBAL_HEADER);
    ctx.open_as(codec).map_err(|source| EncoderError::Open {
        encoder: "aac",
        what: what.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(encoder: &str, codec: &str) -> LadderProfile {
        let yaml = format!(
            "name: t\nsegment_duration: 2\ngop: 2\nencoder: {encoder}\nallow_cpu: {}\nvideo:\n  - name: v\n    width: 640\n    height: 360\n    bitrate: 800k\n    codec: {codec}\naudio: []\n",
            codec == "h264" && encoder != "nvenc"
        );
        LadderProfile::from_yaml("test", &yaml).expect("test profile is valid")
    }

    fn no_driver() -> Result<(), GpuError> {
        Err(GpuError::NoDriver {
            library: "libcuda.so.1",
            detail: "not found".into(),
        })
    }

    #[test]
    fn auto_falls_back_to_x264_with_the_reason() {
        let s = select(&profile("auto", "h264"), no_driver).unwrap();
        assert_eq!(s.kind, EncoderKind::X264);
        assert_eq!(s.nvenc_unavailable, no_driver().err());
    }

    #[test]
    fn nvenc_refuses_without_a_gpu() {
        let e = select(&profile("nvenc", "h264"), no_driver).unwrap_err();
        assert!(e.to_string().contains("no NVIDIA driver"), "{e}");
    }

    #[test]
    fn hevc_on_auto_needs_nvenc() {
        let e = select(&profile("auto", "hevc"), no_driver).unwrap_err();
        assert!(matches!(e, EncoderError::HevcNeedsNvenc { .. }), "{e}");
    }

    #[test]
    fn real_probe_gives_a_reason_or_works() {
        ff::init().unwrap();
        // On a machine without an NVIDIA GPU this must fail with a reason, not panic.
        if let Err(reason) = probe_nvenc() {
            assert!(!reason.to_string().is_empty());
        }
    }
}
