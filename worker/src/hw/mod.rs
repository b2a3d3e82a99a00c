//! The FFmpeg hardware calls the safe `ffmpeg-next` API does not cover:
//! opening a CUDA device, asking a decoder which hardware it can use,
//! decoding on NVDEC ([`nvdec`]), scaling with `scale_cuda`, downloading, and
//! opening NVENC on GPU frames ([`cuda_frames`]). Every unsafe block of the
//! GPU path lives in this module, each with its SAFETY argument.

use std::ptr;
use std::sync::{Arc, Mutex};

pub mod cuda_frames;
mod error;
pub mod nvdec;

pub use error::GpuError;

use ff::ffi;
use ffmpeg_next as ff;

/// An opened CUDA device (`AVHWDeviceContext` of type CUDA); released on drop.
pub struct CudaDevice {
    ctx: *mut ffi::AVBufferRef,
}

// SAFETY: the buffer reference is owned by this value alone and FFmpeg's
// device contexts may be used from any thread.
unsafe impl Send for CudaDevice {}
// SAFETY: shared use only takes new references (av_buffer_ref, atomic) and
// hands the context to FFmpeg calls, which lock the CUDA context themselves.
unsafe impl Sync for CudaDevice {}

impl CudaDevice {
    /// The device context, for FFmpeg calls that take a reference of their own.
    pub(crate) fn as_ptr(&self) -> *mut ffi::AVBufferRef {
        self.ctx
    }
}

/// The process's CUDA device, opened once and shared by every channel (one
/// CUDA context per process, not per session). A failure is not kept: the
/// next caller tries again.
pub fn shared_cuda() -> Result<Arc<CudaDevice>, GpuError> {
    static DEVICE: Mutex<Option<Arc<CudaDevice>>> = Mutex::new(None);
    let mut device = DEVICE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(d) = device.as_ref() {
        return Ok(d.clone());
    }
    let d = Arc::new(open_cuda()?);
    *device = Some(d.clone());
    Ok(d)
}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from av_hwdevice_ctx_create and is unreferenced exactly once.
        unsafe { ffi::av_buffer_unref(&mut self.ctx) };
    }
}

/// Opens the first CUDA device through FFmpeg (what NVDEC decoding and
/// `scale_cuda` run on). `Err` says why not, in terms an operator can act on.
pub fn open_cuda() -> Result<CudaDevice, GpuError> {
    // SAFETY: loading the driver's library runs its initialisers; it is
    // loaded exactly as FFmpeg itself would load it, and unloaded again.
    let driver = unsafe { libloading::Library::new("libcuda.so.1") };
    if let Err(e) = driver {
        return Err(GpuError::NoDriver {
            library: "libcuda.so.1",
            detail: e.to_string(),
        });
    }
    let mut ctx: *mut ffi::AVBufferRef = ptr::null_mut();
    // SAFETY: `ctx` is a valid out-pointer; a null device name and options
    // select the default device; on failure nothing is allocated.
    let rc = unsafe {
        ffi::av_hwdevice_ctx_create(
            &mut ctx,
            ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
            ptr::null(),
            ptr::null_mut(),
            0,
        )
    };
    if rc < 0 || ctx.is_null() {
        return Err(GpuError::NoDevice {
            source: if rc < 0 {
                ff::Error::from(rc)
            } else {
                ff::Error::Bug
            },
        });
    }
    Ok(CudaDevice { ctx })
}

/// The device NVDEC decodes a source of `codec` on, with `scale_cuda` for
/// the renditions; `Err` names the first missing piece.
pub fn nvdec_offer(codec: ff::codec::Id) -> Result<Arc<CudaDevice>, GpuError> {
    if !decoder_has_cuda(codec) {
        return Err(GpuError::NoNvdec {
            codec: format!("{codec:?}"),
        });
    }
    if ff::filter::find("scale_cuda").is_none() {
        return Err(crate::filter_chain::FilterError::Missing("scale_cuda").into());
    }
    shared_cuda()
}

/// Whether FFmpeg's native decoder for `codec` can decode on a CUDA device (NVDEC).
pub fn decoder_has_cuda(codec: ff::codec::Id) -> bool {
    let Some(decoder) = ff::decoder::find(codec) else {
        return false;
    };
    for i in 0.. {
        // SAFETY: the codec pointer comes from FFmpeg's registry and lives
        // for the process; the index walk stops at the first null entry.
        let config = unsafe { ffi::avcodec_get_hw_config(decoder.as_ptr(), i) };
        if config.is_null() {
            return false;
        }
        // SAFETY: a non-null entry points at FFmpeg's static description.
        let config = unsafe { &*config };
        let by_device = config.methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0;
        if by_device && config.device_type == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_gpu_cuda_says_why() {
        ff::init().unwrap();
        if std::path::Path::new("/dev/nvidia0").exists() {
            return; // a GPU machine: the ignored GPU tests cover it
        }
        let e = open_cuda().err().expect("no CUDA device here").to_string();
        assert!(e.contains("NVIDIA") || e.contains("CUDA"), "{e}");
    }

    #[test]
    fn the_h264_decoder_is_asked_about_cuda_without_a_device() {
        ff::init().unwrap();
        // Debian's FFmpeg builds the CUDA hwaccel in; asking needs no device.
        let _ = decoder_has_cuda(ff::codec::Id::H264);
        assert!(!decoder_has_cuda(ff::codec::Id::PCM_S16LE));
    }
}
