//! Decoding on NVDEC: FFmpeg's native decoder with the CUDA hwaccel, its
//! frames left in GPU memory (`AV_PIX_FMT_CUDA`, NV12 or P010 inside).

use ff::ffi;
use ffmpeg_next as ff;

use super::{CudaDevice, GpuError};

/// Makes an unopened decoder context decode on `device`: the device
/// attached, and CUDA frames chosen when the decoder offers them. A source
/// NVDEC cannot take (a profile or chroma format the GPU lacks) makes the
/// decoder fail its first frames instead of falling back to software
/// silently; the caller blames NVDEC and moves the channel to the CPU.
pub fn attach(ctx: &mut ff::codec::context::Context, device: &CudaDevice) -> Result<(), GpuError> {
    // SAFETY: `ctx` is a valid, unopened codec context we own. The device
    // reference is new (av_buffer_ref) and owned by the context from here:
    // avcodec_free_context unreferences it. `pick_cuda` has the signature
    // FFmpeg calls `get_format` with and keeps no state.
    unsafe {
        let raw = ctx.as_mut_ptr();
        let device_ref = ffi::av_buffer_ref(device.as_ptr());
        if device_ref.is_null() {
            return Err(GpuError::OutOfMemory("a reference to the CUDA device"));
        }
        (*raw).hw_device_ctx = device_ref;
        (*raw).get_format = Some(pick_cuda);
    }
    Ok(())
}

/// `get_format`: CUDA frames, or none at all (the decode fails and says so).
unsafe extern "C" fn pick_cuda(
    _ctx: *mut ffi::AVCodecContext,
    formats: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    let mut p = formats;
    // SAFETY: FFmpeg passes a list terminated by AV_PIX_FMT_NONE.
    unsafe {
        while !p.is_null() && *p != ffi::AVPixelFormat::AV_PIX_FMT_NONE {
            if *p == ffi::AVPixelFormat::AV_PIX_FMT_CUDA {
                return *p;
            }
            p = p.add(1);
        }
    }
    tracing::warn!(target: "ffmpeg", "NVDEC cannot decode this source (no CUDA format offered)");
    ffi::AVPixelFormat::AV_PIX_FMT_NONE
}
