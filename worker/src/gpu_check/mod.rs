//! `livefleet worker gpu-check`: what this node's GPU can do for the worker,
//! piece by piece, each missing piece with its reason, and a short run of
//! every video path that can run here, through the worker's own ladder.
//!
//! Exit codes (documented in docs/operations.md):
//!
//! | code | outcome |
//! |---|---|
//! | 0 | `nvenc`: NVENC opens; the worker encodes on the GPU |
//! | 2 | `no_gpu`: no NVIDIA driver or GPU; the worker encodes with libx264 |
//! | 3 | `gpu_without_nvenc`: a GPU (CUDA, maybe NVDEC) but NVENC does not open (data-centre GPUs such as A100, H100, H200 have none; or its sessions are used up); libx264 encodes |
//! | 4 | `check_failed`: the check itself could not run (FFmpeg would not initialise) |

use std::time::Duration;

use ffmpeg_next as ff;
use livefleet_profile::VideoCodec;
use serde::Serialize;

use crate::encoder::probe_nvenc_codec;
use crate::hw;
use crate::nvml;

pub(crate) mod clip;
mod modes;

#[cfg(test)]
use modes::first_missing;
use modes::modes;

/// One piece of the GPU path: there or not, and why not.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Piece {
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Piece {
    fn from<E: std::fmt::Display>(r: Result<(), E>) -> Self {
        match r {
            Ok(()) => Piece {
                available: true,
                reason: None,
            },
            Err(reason) => Piece {
                available: false,
                reason: Some(reason.to_string()),
            },
        }
    }

    fn missing(reason: impl std::fmt::Display) -> Self {
        Piece::from(Err(reason))
    }

    fn yes() -> Self {
        Piece::from(Ok::<(), String>(()))
    }
}

/// The GPU as NVML sees it.
#[derive(Debug, Clone, Serialize)]
pub struct GpuPiece {
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub model: Option<String>,
    pub driver_version: Option<String>,
    /// NVENC sessions open on the GPU now, by every process.
    pub nvenc_sessions_open: Option<u32>,
    /// The driver's cap on concurrent NVENC sessions (consumer cards); none on data-centre cards.
    pub nvenc_session_limit: Option<u32>,
}

/// NVDEC for one codec: FFmpeg's decoder can use CUDA, and a device opens.
#[derive(Debug, Clone, Serialize)]
pub struct CodecPiece {
    pub codec: &'static str,
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A way of running a ladder, and what a short run of it achieved.
#[derive(Debug, Clone, Serialize)]
pub struct ModeRun {
    pub mode: &'static str,
    pub decode: &'static str,
    pub scale: &'static str,
    pub encode: &'static str,
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Source frames per second through the check's ladder (1280x720 ->
    /// 720p, 480p, 360p), over the run.
    pub frames_per_second: Option<f64>,
    /// Content seconds of the run.
    pub seconds: Option<f64>,
}

/// Everything `gpu-check` found.
#[derive(Debug, Clone, Serialize)]
pub struct GpuReport {
    pub outcome: &'static str,
    pub exit_code: u8,
    pub gpu: GpuPiece,
    pub cuda: Piece,
    pub nvdec: Vec<CodecPiece>,
    pub scale_cuda: Piece,
    pub nvenc_h264: Piece,
    pub nvenc_hevc: Piece,
    pub modes: Vec<ModeRun>,
}

impl GpuReport {
    /// A report for a check that could not run at all.
    pub fn failed(reason: &str) -> GpuReport {
        let missing = || Piece::missing(format!("not checked: {reason}"));
        GpuReport {
            outcome: "check_failed",
            exit_code: 4,
            gpu: GpuPiece {
                available: false,
                reason: Some(format!("not checked: {reason}")),
                model: None,
                driver_version: None,
                nvenc_sessions_open: None,
                nvenc_session_limit: None,
            },
            cuda: missing(),
            nvdec: Vec::new(),
            scale_cuda: missing(),
            nvenc_h264: missing(),
            nvenc_hevc: missing(),
            modes: Vec::new(),
        }
    }
}

/// The codecs NVDEC is asked about.
const NVDEC_CODECS: [(&str, ff::codec::Id); 4] = [
    ("h264", ff::codec::Id::H264),
    ("hevc", ff::codec::Id::HEVC),
    ("vp9", ff::codec::Id::VP9),
    ("av1", ff::codec::Id::AV1),
];

/// Runs the check; `run_for` is the length of each mode's encode run (0: no runs).
pub fn check(run_for: Duration) -> GpuReport {
    if let Err(e) = ff::init() {
        return GpuReport::failed(&format!("FFmpeg initialisation: {e}"));
    }
    crate::ffmpeg_log::route_to_tracing();
    let gpu = match nvml::probe() {
        Ok(g) => GpuPiece {
            available: true,
            reason: None,
            model: Some(g.model),
            driver_version: g.driver_version,
            nvenc_sessions_open: Some(g.encoder_sessions),
            nvenc_session_limit: g.session_limit,
        },
        Err(reason) => GpuPiece {
            available: false,
            reason: Some(reason.to_string()),
            model: None,
            driver_version: None,
            nvenc_sessions_open: None,
            nvenc_session_limit: None,
        },
    };
    let device = hw::open_cuda();
    let cuda = Piece::from(device.as_ref().map(|_| ()).map_err(Clone::clone));
    let nvdec = NVDEC_CODECS
        .iter()
        .map(|&(codec, id)| {
            let piece = if !hw::decoder_has_cuda(id) {
                Piece::missing(format!(
                    "this FFmpeg's {codec} decoder has no CUDA (NVDEC) hardware configuration"
                ))
            } else if let Some(reason) = &cuda.reason {
                Piece::missing(format!("no CUDA device: {reason}"))
            } else {
                Piece::yes()
            };
            CodecPiece {
                codec,
                available: piece.available,
                reason: piece.reason,
            }
        })
        .collect::<Vec<_>>();
    let scale_cuda = if ff::filter::find("scale_cuda").is_none() {
        Piece::missing("this FFmpeg has no scale_cuda filter (built without --enable-cuda-nvcc / --enable-cuda-llvm)")
    } else if let Some(reason) = &cuda.reason {
        Piece::missing(format!("no CUDA device: {reason}"))
    } else {
        Piece::yes()
    };
    drop(device);
    let nvenc_h264 = Piece::from(probe_nvenc_codec(VideoCodec::H264));
    let nvenc_hevc = Piece::from(probe_nvenc_codec(VideoCodec::Hevc));
    let modes = modes(&nvdec[0], &scale_cuda, &nvenc_h264, run_for);
    let (outcome, exit_code) = if nvenc_h264.available {
        ("nvenc", 0)
    } else if gpu.available || cuda.available {
        ("gpu_without_nvenc", 3)
    } else {
        ("no_gpu", 2)
    };
    GpuReport {
        outcome,
        exit_code,
        gpu,
        cuda,
        nvdec,
        scale_cuda,
        nvenc_h264,
        nvenc_hevc,
        modes,
    }
}

/// The report for people: one line per piece and mode.
pub fn render(r: &GpuReport) -> String {
    let line = |name: &str, p: &Piece| match &p.reason {
        None => format!("  {name:<14} yes\n"),
        Some(why) => format!("  {name:<14} no: {why}\n"),
    };
    let mut s = String::new();
    match (&r.gpu.model, &r.gpu.reason) {
        (Some(m), _) => {
            s += &format!(
                "  {:<14} {m} (driver {}, {} NVENC sessions open{})\n",
                "GPU",
                r.gpu.driver_version.as_deref().unwrap_or("unknown"),
                r.gpu.nvenc_sessions_open.unwrap_or(0),
                r.gpu
                    .nvenc_session_limit
                    .map_or(String::new(), |l| format!(", cap {l}"))
            )
        }
        (None, Some(why)) => s += &format!("  {:<14} no: {why}\n", "GPU"),
        (None, None) => {}
    }
    s += &line("CUDA device", &r.cuda);
    for c in &r.nvdec {
        let p = Piece {
            available: c.available,
            reason: c.reason.clone(),
        };
        s += &line(&format!("NVDEC {}", c.codec), &p);
    }
    s += &line("scale_cuda", &r.scale_cuda);
    s += &line("NVENC H.264", &r.nvenc_h264);
    s += &line("NVENC HEVC", &r.nvenc_hevc);
    s += "modes:\n";
    for m in &r.modes {
        let what = format!("{} ({} -> {} -> {})", m.mode, m.decode, m.scale, m.encode);
        match (&m.reason, m.frames_per_second) {
            (None, Some(fps)) => {
                s += &format!("  {what:<40} {fps:.0} fps (720p -> 720p/480p/360p)\n")
            }
            (None, None) => s += &format!("  {what:<40} available\n"),
            (Some(why), _) => s += &format!("  {what:<40} no: {why}\n"),
        }
    }
    s += &format!("outcome: {} (exit {})\n", r.outcome, r.exit_code);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_gpu_here() -> bool {
        !std::path::Path::new("/dev/nvidia0").exists()
    }

    #[test]
    fn without_a_gpu_every_piece_names_its_reason_and_the_cpu_runs() {
        if !no_gpu_here() {
            return; // the ignored GPU tests cover GPU machines
        }
        let r = check(Duration::from_millis(300));
        assert_eq!((r.outcome, r.exit_code), ("no_gpu", 2));
        assert!(!r.gpu.available && r.gpu.reason.is_some());
        for p in [&r.cuda, &r.scale_cuda, &r.nvenc_h264, &r.nvenc_hevc] {
            assert!(
                !p.available && p.reason.as_ref().is_some_and(|w| !w.is_empty()),
                "{p:?}"
            );
        }
        assert!(r.nvdec.iter().all(|c| !c.available && c.reason.is_some()));
        let cpu = r.modes.iter().find(|m| m.mode == "cpu").unwrap();
        assert!(
            cpu.available && cpu.frames_per_second.unwrap() > 0.0,
            "{cpu:?}"
        );
        for m in r.modes.iter().filter(|m| m.mode != "cpu") {
            assert!(!m.available && m.reason.is_some(), "{m:?}");
        }
        let text = render(&r);
        assert!(
            text.contains("NVENC H.264") && text.contains("outcome: no_gpu"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["nvdec"][0]["codec"], "h264");
    }

    #[test]
    fn a_mode_names_its_first_missing_piece() {
        let why = "no CUDA device".to_string();
        assert_eq!(
            first_missing(&[
                ("NVDEC (H.264)", true, None),
                ("scale_cuda", false, Some(&why))
            ]),
            Some("needs scale_cuda: no CUDA device".into())
        );
        assert_eq!(first_missing(&[("NVENC", true, None)]), None);
    }

    /// On a GPU machine (`scripts/gpu-check`): the pieces the GPU has are found.
    #[test]
    #[ignore = "needs an NVIDIA GPU: run scripts/gpu-check on a GPU machine"]
    fn on_a_gpu_the_driver_and_cuda_are_found() {
        let r = check(Duration::from_secs(2));
        println!("{}", render(&r));
        assert!(r.gpu.available, "{:?}", r.gpu);
        assert!(r.cuda.available, "{:?}", r.cuda);
        assert!(
            r.nvdec.iter().any(|c| c.codec == "h264" && c.available),
            "{:?}",
            r.nvdec
        );
        assert_ne!(r.exit_code, 2);
    }
}
