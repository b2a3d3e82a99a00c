//! Frames in GPU memory: `scale_cuda` per rendition, the download of the
//! hybrid path, and NVENC opened on CUDA frames (the zero-copy path).
//!
//! Every scaled frame is NV12: what NVDEC produces for 8-bit 4:2:0, what
//! NVENC reads natively, and what libx264 takes without a conversion.

use std::ffi::c_void;

use ff::{ffi, filter, frame};
use ffmpeg_next as ff;

use super::{av_error, CudaDevice};

/// The pixel format inside every scaled CUDA frame.
pub const SCALED_FORMAT: ff::format::Pixel = ff::format::Pixel::NV12;

/// `buffer -> scale_cuda -> buffersink` for one rendition.
pub struct CudaScaler {
    graph: filter::Graph,
    source: *mut ffi::AVFilterContext,
    sink: *mut ffi::AVFilterContext,
    /// The input's size and frames context the graph was built for.
    input: (u32, u32, *const ffi::AVBufferRef),
}

// SAFETY: the filter contexts belong to `graph`, which this value owns and
// which FFmpeg allows to be used from any one thread at a time.
unsafe impl Send for CudaScaler {}

impl CudaScaler {
    /// A scaler from frames like `src` (CUDA frames of NVDEC) to `width` x `height`.
    pub fn new(src: &frame::Video, width: u32, height: u32) -> Result<Self, String> {
        // SAFETY: reading the frames context pointer of a valid frame.
        let frames_ctx = unsafe { (*src.as_ptr()).hw_frames_ctx };
        if frames_ctx.is_null() {
            return Err("the decoded frame is not in GPU memory (no hw_frames_ctx)".to_owned());
        }
        let find = |name: &str| {
            filter::find(name).ok_or_else(|| format!("this FFmpeg build has no {name} filter"))
        };
        let mut graph = filter::Graph::new();
        let args = format!(
            "video_size={}x{}:pix_fmt=cuda:time_base=1/90000:pixel_aspect=1/1",
            src.width(),
            src.height()
        );
        let built = |e: ff::Error| format!("scale_cuda to {width}x{height}: {e}");
        let mut input = graph.add(&find("buffer")?, "in", &args).map_err(built)?;
        // SAFETY: `par` is allocated here and freed below; av_buffersrc_parameters_set
        // takes its own reference to the frames context, which stays owned by the frame.
        unsafe {
            let par = ffi::av_buffersrc_parameters_alloc();
            if par.is_null() {
                return Err("out of memory for the scale_cuda source".to_owned());
            }
            (*par).format = ffi::AVPixelFormat::AV_PIX_FMT_CUDA as i32;
            (*par).width = src.width() as i32;
            (*par).height = src.height() as i32;
            (*par).time_base = ffi::AVRational {
                num: 1,
                den: 90_000,
            };
            (*par).hw_frames_ctx = frames_ctx;
            let rc = ffi::av_buffersrc_parameters_set(input.as_mut_ptr(), par);
            ffi::av_free(par as *mut c_void);
            if rc < 0 {
                return Err(format!(
                    "the scale_cuda source refused the GPU frames: {}",
                    av_error(rc)
                ));
            }
        }
        let mut scale = graph
            .add(
                &find("scale_cuda")?,
                "scale",
                &format!("w={width}:h={height}:format=nv12:interp_algo=bicubic"),
            )
            .map_err(built)?;
        let mut sink = graph.add(&find("buffersink")?, "out", "").map_err(built)?;
        input.link(0, &mut scale, 0);
        scale.link(0, &mut sink, 0);
        graph.validate().map_err(built)?;
        // SAFETY: the contexts live as long as `graph`, which this value owns.
        let (source, sink) = unsafe { (input.as_mut_ptr(), sink.as_mut_ptr()) };
        Ok(Self {
            graph,
            source,
            sink,
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
    pub fn scale(&mut self, src: &frame::Video) -> Result<frame::Video, String> {
        let _ = &self.graph;
        // SAFETY: `source` and `sink` are contexts of our graph; write_frame
        // takes new references to `src` (AV_BUFFERSRC_FLAG_KEEP_REF), and
        // get_frame fills a frame we own.
        unsafe {
            let rc = ffi::av_buffersrc_write_frame(self.source, src.as_ptr());
            if rc < 0 {
                return Err(format!("scale_cuda refused a frame: {}", av_error(rc)));
            }
            let mut out = frame::Video::empty();
            let rc = ffi::av_buffersink_get_frame(self.sink, out.as_mut_ptr());
            if rc < 0 {
                return Err(format!("scale_cuda gave no frame: {}", av_error(rc)));
            }
            Ok(out)
        }
    }
}

/// A CUDA frame copied to system memory (the hybrid path, once per rendition).
pub fn download(src: &frame::Video) -> Result<frame::Video, String> {
    // SAFETY: reading the frames context pointer of a valid frame.
    if unsafe { (*src.as_ptr()).hw_frames_ctx }.is_null() {
        // av_hwframe_transfer_data would dereference the missing context.
        return Err("the frame to download is not in GPU memory".to_owned());
    }
    let mut out = frame::Video::empty();
    // SAFETY: both frames are valid and `src` has a frames context (checked
    // above); transfer_data allocates `out`'s buffers in the source's
    // software format and copies the planes.
    let rc = unsafe { ffi::av_hwframe_transfer_data(out.as_mut_ptr(), src.as_ptr(), 0) };
    if rc < 0 {
        return Err(format!(
            "downloading a frame from the GPU failed: {}",
            av_error(rc)
        ));
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
) -> Result<(), String> {
    // SAFETY: the frames context is allocated on a valid device reference and
    // initialised before use; on success its reference moves into the
    // encoder context, which unreferences it when freed; on failure it is
    // unreferenced here. The encoder context is ours and not yet opened.
    unsafe {
        let mut frames = ffi::av_hwframe_ctx_alloc(device.as_ptr());
        if frames.is_null() {
            return Err("cannot allocate CUDA frames for NVENC".to_owned());
        }
        let fc = (*frames).data as *mut ffi::AVHWFramesContext;
        (*fc).format = ffi::AVPixelFormat::AV_PIX_FMT_CUDA;
        (*fc).sw_format = SCALED_FORMAT.into();
        (*fc).width = width as i32;
        (*fc).height = height as i32;
        let rc = ffi::av_hwframe_ctx_init(frames);
        if rc < 0 {
            ffi::av_buffer_unref(&mut frames);
            return Err(format!(
                "CUDA frames {width}x{height} for NVENC: {}",
                av_error(rc)
            ));
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

    #[test]
    fn a_frame_in_system_memory_is_refused_with_the_reason() {
        ff::init().unwrap();
        let f = frame::Video::new(ff::format::Pixel::YUV420P, 64, 64);
        let e = CudaScaler::new(&f, 32, 32).err().expect("not a GPU frame");
        assert!(e.contains("not in GPU memory"), "{e}");
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
