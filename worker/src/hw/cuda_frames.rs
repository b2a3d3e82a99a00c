//! Frames in GPU memory: `scale_cuda` per rendition, the download of the
//! hybrid path, and NVENC opened on CUDA frames (the zero-copy path).
//!
//! Every scaled frame is NV12: what NVDEC produces for 8-bit 4:2:0, what
//! NVENC reads natively, and what libx264 takes without a conversion.

use std::ffi::c_void;

use ff::{ffi, frame};
use ffmpeg_next as ff;

use super::{CudaDevice, GpuError};
use crate::filter_chain::{FilterChain, FilterError, Step};

/// The pixel format inside every scaled CUDA frame.
pub const SCALED_FORMAT: ff::format::Pixel = ff::format::Pixel::NV12;

/// `buffer -> scale_cuda -> buffersink` for one rendition.
pub struct CudaScaler {
    chain: FilterChain,
    /// The input's size and frames context the graph was built for.
    input: (u32, u32, *const ffi::AVBufferRef),
}

// SAFETY: the chain is Send; the frames context pointer is only compared,
// never dereferenced.
unsafe impl Send for CudaScaler {}

impl CudaScaler {
    /// A scaler from frames like `src` (CUDA frames of NVDEC) to `width` x `height`.
    pub fn new(src: &frame::Video, width: u32, height: u32) -> Result<Self, GpuError> {
        // SAFETY: reading the frames context pointer of a valid frame.
        let frames_ctx = unsafe { (*src.as_ptr()).hw_frames_ctx };
        if frames_ctx.is_null() {
            return Err(GpuError::NotOnGpu("decoded frame (no hw_frames_ctx)"));
        }
        let input = format!(
            "video_size={}x{}:pix_fmt=cuda:time_base=1/90000:pixel_aspect=1/1",
            src.width(),
            src.height()
        );
        let (w_in, h_in) = (src.width() as i32, src.height() as i32);
        // The source takes the decoder's frames context, which stays owned by the frame.
        let set_frames = |source: *mut ffi::AVFilterContext| {
            // SAFETY: `par` is allocated here and freed below;
            // av_buffersrc_parameters_set takes its own reference to the
            // frames context; `source` is a buffer source of the graph.
            unsafe {
                let par = ffi::av_buffersrc_parameters_alloc();
                if par.is_null() {
                    return Err(FilterError::OutOfMemory("scale_cuda source"));
                }
                (*par).format = ffi::AVPixelFormat::AV_PIX_FMT_CUDA as i32;
                (*par).width = w_in;
                (*par).height = h_in;
                (*par).time_base = ffi::AVRational {
                    num: 1,
                    den: 90_000,
                };
                (*par).hw_frames_ctx = frames_ctx;
                let rc = ffi::av_buffersrc_parameters_set(source, par);
                ffi::av_free(par as *mut c_void);
                if rc < 0 {
                    return Err(FilterError::Refused {
                        filter: "scale_cuda source",
                        source: ff::Error::from(rc),
                    });
                }
            }
            Ok(())
        };
        let steps = [Step {
            name: "scale_cuda",
            options: format!("w={width}:h={height}:format=nv12:interp_algo=bicubic"),
        }];
        let chain = FilterChain::new(
            format!("scale_cuda to {width}x{height}"),
            &input,
            &steps,
            None,
            set_frames,
        )?;
        Ok(Self {
            chain,
            input: (src.width(), src.height(), frames_ctx),
        })
    }

    /// Whether this scaler was built for frames like `src`.
    pub fn fits(&self, src: &frame::Video) -> bool {
        // SAFETY: reading the frames context pointer of a valid frame.
        let ctx = unsafe { (*src.as_ptr()).hw_frames_ctx } as *const ffi::AVBufferRef;
        self.input == (src.width(), src.height(), ctx)
    }

    /// The scaled frame (CUDA, NV12 inside). `src` is not consumed: the
    /// other renditions read the same decoded frame.
    pub fn scale(&mut self, src: &frame::Video) -> Result<frame::Video, GpuError> {
        Ok(self.chain.run(src)?)
    }
}

/// A CUDA frame copied to system memory (the hybrid path, once per rendition).
pub fn download(src: &frame::Video) -> Result<frame::Video, GpuError> {
    // SAFETY: reading the frames context pointer of a valid frame.
    if unsafe { (*src.as_ptr()).hw_frames_ctx }.is_null() {
        // av_hwframe_transfer_data would dereference the missing context.
        return Err(GpuError::NotOnGpu("frame to download"));
    }
    let mut out = frame::Video::empty();
    // SAFETY: both frames are valid and `src` has a frames context (checked
    // above); transfer_data allocates `out`'s buffers in the source's
    // software format and copies the planes.
    let rc = unsafe { ffi::av_hwframe_transfer_data(out.as_mut_ptr(), src.as_ptr(), 0) };
    if rc < 0 {
        return Err(GpuError::Call {
            what: "downloading a frame from the GPU".into(),
            source: ff::Error::from(rc),
        });
    }
    Ok(out)
}

/// Makes an unopened NVENC context take CUDA frames of `width` x `height`
/// (NV12 inside) from `device`: NVENC needs a frames context at open time.
pub fn encode_from_gpu(
    ctx: &mut ff::encoder::video::Video,
    device: &CudaDevice,
    width: u32,
    height: u32,
) -> Result<(), GpuError> {
    // SAFETY: the frames context is allocated on a valid device reference and
    // initialised before use; on success its reference moves into the
    // encoder context, which unreferences it when freed; on failure it is
    // unreferenced here. The encoder context is ours and not yet opened.
    unsafe {
        let mut frames = ffi::av_hwframe_ctx_alloc(device.as_ptr());
        if frames.is_null() {
            return Err(GpuError::OutOfMemory("CUDA frames for NVENC"));
        }
        let fc = (*frames).data as *mut ffi::AVHWFramesContext;
        (*fc).format = ffi::AVPixelFormat::AV_PIX_FMT_CUDA;
        (*fc).sw_format = SCALED_FORMAT.into();
        (*fc).width = width as i32;
        (*fc).height = height as i32;
        let rc = ffi::av_hwframe_ctx_init(frames);
        if rc < 0 {
            ffi::av_buffer_unref(&mut frames);
            return Err(GpuError::Call {
                what: format!("CUDA frames {width}x{height} for NVENC"),
                source: ff::Error::from(rc),
            });
        }
        let raw = ctx.as_mut_ptr();
        (*raw).hw_frames_ctx = frames;
        (*raw).pix_fmt = ffi::AVPixelFormat::AV_PIX_FMT_CUDA;
        (*raw).sw_pix_fmt = SCALED_FORMAT.into();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::filter;

    #[test]
    fn a_frame_in_system_memory_is_refused_with_the_reason() {
        ff::init().unwrap();
        let f = frame::Video::new(ff::format::Pixel::YUV420P, 64, 64);
        let e = CudaScaler::new(&f, 32, 32).err().expect("not a GPU frame");
        assert!(e.to_string().contains("not in GPU memory"), "{e}");
        assert!(
            download(&f).is_err(),
            "nothing to download from system memory"
        );
    }

    #[test]
    fn the_filters_of_the_gpu_path_are_in_this_ffmpeg() {
        ff::init().unwrap();
        for name in ["buffer", "scale_cuda", "buffersink"] {
            assert!(filter::find(name).is_some(), "{name}");
        }
    }
}
