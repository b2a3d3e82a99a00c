//! The scale step of a rendition: zimg or swscale (bicubic, from the
//! decoded source) for frames in system memory, `scale_cuda` and, for libx264, a
//! download for NVDEC's frames in GPU memory.

use ff::{format, frame, software::scaling};
use ffmpeg_next as ff;

use crate::encoder::{EncoderKind, VideoSettings};
use crate::filter_chain::FilterError;
use crate::hw::cuda_frames::{self, CudaScaler};
use crate::hw::GpuError;
use crate::video_path::VideoPath;
use crate::zimg::{self, ZimgScaler};

/// Why a frame could not be scaled: on the CPU (a rendition's error) or on
/// the GPU (blamed on the GPU's decode side, so the channel falls back).
pub(crate) enum ScaleError {
    Cpu(CpuScaleError),
    Gpu(GpuError),
}

/// Why the CPU scaler failed.
#[derive(Debug, thiserror::Error)]
pub enum CpuScaleError {
    #[error(transparent)]
    Zimg(#[from] FilterError),
    #[error("cannot scale {width_in}x{height_in} {format:?} to {width}x{height}: {source}")]
    Setup {
        format: format::Pixel,
        width_in: u32,
        height_in: u32,
        width: u32,
        height: u32,
        source: ff::Error,
    },
    #[error("swscale failed: {0}")]
    Swscale(ff::Error),
}

/// The rendition's scaler for its path: zimg or swscale for frames in system
/// memory, `scale_cuda` (and a download for libx264) for NVDEC's frames.
pub(crate) enum FrameScaler {
    Cpu(Scaler),
    Gpu {
        scaler: Option<CudaScaler>,
        download: bool,
    },
}

impl FrameScaler {
    pub(crate) fn for_path(path: VideoPath) -> Self {
        if path.gpu_decode() {
            FrameScaler::Gpu {
                scaler: None,
                download: path.encoder() != EncoderKind::Nvenc,
            }
        } else {
            FrameScaler::Cpu(Scaler::default())
        }
    }

    pub(crate) fn scale(
        &mut self,
        src: &frame::Video,
        target: &VideoSettings,
    ) -> Result<frame::Video, ScaleError> {
        match self {
            FrameScaler::Cpu(s) => s.scale(src, target).map_err(ScaleError::Cpu),
            FrameScaler::Gpu { scaler, download } => {
                if scaler.as_ref().is_none_or(|s| !s.fits(src)) {
                    *scaler = Some(
                        CudaScaler::new(src, target.width, target.height)
                            .map_err(ScaleError::Gpu)?,
                    );
                }
                let scaled = scaler
                    .as_mut()
                    .expect("set above")
                    .scale(src)
                    .map_err(ScaleError::Gpu)?;
                if *download {
                    let mut f = cuda_frames::download(&scaled).map_err(ScaleError::Gpu)?;
                    keep_props(&mut f, &scaled);
                    Ok(f)
                } else {
                    Ok(scaled)
                }
            }
        }
    }
}

/// The rendition's CPU scaler, made again when the source's format or size
/// changes: zimg for 8-bit 4:2:0 ([`crate::zimg`]), swscale bicubic for
/// every other format (and where zimg cannot be set up, said once in the log).
#[derive(Default)]
pub(crate) struct Scaler {
    ctx: Option<(CpuScaler, (format::Pixel, u32, u32))>,
}

enum CpuScaler {
    Zimg(ZimgScaler),
    Swscale(scaling::Context),
}

impl Scaler {
    fn scale(
        &mut self,
        src: &frame::Video,
        target: &VideoSettings,
    ) -> Result<frame::Video, CpuScaleError> {
        if src.width() == target.width
            && src.height() == target.height
            && src.format() == format::Pixel::YUV420P
        {
            return Ok(share_frame(src));
        }
        let key = (src.format(), src.width(), src.height());
        if self.ctx.as_ref().is_none_or(|(_, k)| *k != key) {
            self.ctx = Some((CpuScaler::new(src, target)?, key));
        }
        match &mut self.ctx.as_mut().expect("set above").0 {
            CpuScaler::Zimg(z) => Ok(z.scale(src)?),
            CpuScaler::Swscale(ctx) => {
                let mut scaled = frame::Video::empty();
                ctx.run(src, &mut scaled).map_err(CpuScaleError::Swscale)?;
                keep_props(&mut scaled, src);
                if crate::colour::is_full_range_format(src.format()) {
                    // swscale made it limited (colour.rs).
                    scaled.set_color_range(ff::util::color::Range::MPEG);
                }
                Ok(scaled)
            }
        }
    }
}

impl CpuScaler {
    fn new(src: &frame::Video, target: &VideoSettings) -> Result<Self, CpuScaleError> {
        if zimg::suits(src, target.width, target.height) {
            match ZimgScaler::new(src.width(), src.height(), target.width, target.height) {
                Ok(z) => return Ok(CpuScaler::Zimg(z)),
                Err(e) => tracing::warn!(error = %e, "zimg unavailable, scaling with swscale"),
            }
        }
        scaling::Context::get(
            src.format(),
            src.width(),
            src.height(),
            format::Pixel::YUV420P,
            target.width,
            target.height,
            scaling::Flags::BICUBIC,
        )
        .map(CpuScaler::Swscale)
        .map_err(|source| CpuScaleError::Setup {
            format: src.format(),
            width_in: src.width(),
            height_in: src.height(),
            width: target.width,
            height: target.height,
            source,
        })
    }
}

/// What `src` says besides its pixels (timestamps, colour, side data such
/// as closed captions: `captions.rs`) on a frame made from it.
fn keep_props(out: &mut frame::Video, src: &frame::Video) {
    // SAFETY: both frames are valid; av_frame_copy_props copies fields and
    // references side data, leaving the pixel buffers alone.
    unsafe {
        ff::ffi::av_frame_copy_props(out.as_mut_ptr(), src.as_ptr());
    }
}

/// A new frame referencing the same buffers (no pixel copy).
fn share_frame(src: &frame::Video) -> frame::Video {
    let mut f = frame::Video::empty();
    // SAFETY: av_frame_ref adds references to src's refcounted buffers; both frames are valid.
    unsafe {
        ff::ffi::av_frame_ref(f.as_mut_ptr(), src.as_ptr());
    }
    f
}
