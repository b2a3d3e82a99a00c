//! NVIDIA's management library (NVML), loaded at run time: the GPU model and
//! the NVENC sessions open on it, for the worker's heartbeats. A machine
//! without the driver gets a clear reason and no GPU fields.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// What NVML says about the first GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    pub model: String,
    /// NVENC sessions open on the GPU now (all processes).
    pub encoder_sessions: u32,
    /// The driver's concurrent NVENC session cap for consumer (GeForce)
    /// cards; `None` for data-centre cards, which have none.
    pub session_limit: Option<u32>,
    /// NVENC and NVDEC utilisation in percent over NVML's last sample period.
    pub encoder_utilization: Option<u32>,
    pub decoder_utilization: Option<u32>,
    /// The driver's version string, as nvidia-smi shows it.
    pub driver_version: Option<String>,
}

type Device = *mut c_void;

/// Why NVML gave no GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvmlError {
    #[error("no NVIDIA driver: libnvidia-ml.so.1 cannot be loaded ({0})")]
    NoLibrary(String),
    #[error("this NVML has no {0}")]
    NoSymbol(&'static str),
    #[error("NVML initialisation failed (error {0}); is the NVIDIA driver loaded?")]
    Init(i32),
    #[error("NVML sees no GPU")]
    NoGpu,
    #[error("NVML cannot open GPU 0 (error {0})")]
    OpenGpu(i32),
}

/// Reads the first GPU through NVML; `Err` says why there is none.
pub fn probe() -> Result<GpuInfo, NvmlError> {
    // SAFETY: loading the system's NVML; only its documented C entry points
    // are called, with buffers of the sizes passed.
    unsafe {
        let lib = libloading::Library::new("libnvidia-ml.so.1")
            .map_err(|e| NvmlError::NoLibrary(e.to_string()))?;
        let init: libloading::Symbol<unsafe extern "C" fn() -> c_int> =
            lib.get(b"nvmlInit_v2\0")
                .map_err(|_| NvmlError::NoSymbol("nvmlInit_v2"))?;
        let shutdown: libloading::Symbol<unsafe extern "C" fn() -> c_int> = lib
            .get(b"nvmlShutdown\0")
            .map_err(|_| NvmlError::NoSymbol("nvmlShutdown"))?;
        let count: libloading::Symbol<unsafe extern "C" fn(*mut c_uint) -> c_int> = lib
            .get(b"nvmlDeviceGetCount_v2\0")
            .map_err(|_| NvmlError::NoSymbol("nvmlDeviceGetCount_v2"))?;
        let handle: libloading::Symbol<unsafe extern "C" fn(c_uint, *mut Device) -> c_int> = lib
            .get(b"nvmlDeviceGetHandleByIndex_v2\0")
            .map_err(|_| NvmlError::NoSymbol("nvmlDeviceGetHandleByIndex_v2"))?;
        let name: libloading::Symbol<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int> =
            lib.get(b"nvmlDeviceGetName\0")
                .map_err(|_| NvmlError::NoSymbol("nvmlDeviceGetName"))?;
        let sessions: libloading::Symbol<
            unsafe extern "C" fn(Device, *mut c_uint, *mut c_void) -> c_int,
        > = lib
            .get(b"nvmlDeviceGetEncoderSessions\0")
            .map_err(|_| NvmlError::NoSymbol("nvmlDeviceGetEncoderSessions"))?;
        let utilization: libloading::Symbol<
            unsafe extern "C" fn(Device, *mut c_uint, *mut c_uint) -> c_int,
        > = lib
            .get(b"nvmlDeviceGetEncoderUtilization\0")
            .map_err(|_| NvmlError::NoSymbol("nvmlDeviceGetEncoderUtilization"))?;
        let dec_utilization: libloading::Symbol<
            unsafe extern "C" fn(Device, *mut c_uint, *mut c_uint) -> c_int,
        > = lib
            .get(b"nvmlDeviceGetDecoderUtilization\0")
            .map_err(|_| NvmlError::NoSymbol("nvmlDeviceGetDecoderUtilization"))?;
        let driver_version: libloading::Symbol<unsafe extern "C" fn(*mut c_char, c_uint) -> c_int> =
            lib.get(b"nvmlSystemGetDriverVersion\0")
                .map_err(|_| NvmlError::NoSymbol("nvmlSystemGetDriverVersion"))?;
        let rc = init();
        if rc != 0 {
            return Err(NvmlError::Init(rc));
        }
        let result = (|| {
            let mut n: c_uint = 0;
            if count(&mut n) != 0 || n == 0 {
                return Err(NvmlError::NoGpu);
            }
            let mut dev: Device = std::ptr::null_mut();
            let rc = handle(0, &mut dev);
            if rc != 0 {
                return Err(NvmlError::OpenGpu(rc));
            }
            let mut buf = [0 as c_char; 96];
            let model = if name(dev, buf.as_mut_ptr(), buf.len() as c_uint) == 0 {
                std::ffi::CStr::from_ptr(buf.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            } else {
                "unknown NVIDIA GPU".to_string()
            };
            let mut open: c_uint = 0;
            // With a null array NVML only counts the sessions.
            if sessions(dev, &mut open, std::ptr::null_mut()) != 0 {
                open = 0;
            }
            let read = |f: &libloading::Symbol<
                unsafe extern "C" fn(Device, *mut c_uint, *mut c_uint) -> c_int,
            >| {
                let (mut percent, mut period_us): (c_uint, c_uint) = (0, 0);
                (f(dev, &mut percent, &mut period_us) == 0).then_some(percent)
            };
            let mut version = [0 as c_char; 96];
            let driver_version =
                (driver_version(version.as_mut_ptr(), version.len() as c_uint) == 0).then(|| {
                    std::ffi::CStr::from_ptr(version.as_ptr())
                        .to_string_lossy()
                        .into_owned()
                });
            Ok(GpuInfo {
                driver_version,
                encoder_utilization: read(&utilization),
                decoder_utilization: read(&dec_utilization),
                session_limit: consumer_session_limit(&model),
                model,
                encoder_sessions: open,
            })
        })();
        shutdown();
        result
    }
}

/// GeForce (and other consumer) cards are capped by the driver at 8
/// concurrent NVENC sessions (older drivers: 3 or 5; set
/// `nvenc_session_limit` in the worker config for those).
fn consumer_session_limit(model: &str) -> Option<u32> {
    let m = model.to_ascii_lowercase();
    (m.contains("geforce")
        || m.contains("titan")
        || m.contains("nvidia rtx") && !m.contains("rtx a"))
    .then_some(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_caps_by_model() {
        assert_eq!(consumer_session_limit("NVIDIA GeForce RTX 4090"), Some(8));
        assert_eq!(consumer_session_limit("Tesla T4"), None);
        assert_eq!(consumer_session_limit("NVIDIA A10G"), None);
    }

    #[test]
    fn without_a_driver_the_reason_is_clear() {
        if std::path::Path::new("/dev/nvidia0").exists() {
            return; // a GPU machine: nothing to check here
        }
        let e = probe().unwrap_err().to_string();
        assert!(e.contains("NVIDIA") || e.contains("NVML"), "{e}");
    }
}
