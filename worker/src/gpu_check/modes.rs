//! The mode runs of `gpu-check`: every video path whose pieces are here runs
//! the worker's own ladder (decode once, scale, encode, package) over a
//! generated clip, so "available" means the path ran, not that its pieces
//! opened one by one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use livefleet_profile::LadderProfile;
use livefleet_storage::Location;

use super::{clip, CodecPiece, ModeRun, Piece};
use crate::broadcast::Progress;
use crate::transcode::{transcode, TranscodeJob};
use crate::video_path::VideoPath;

/// Why a mode's run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Clip(#[from] clip::ClipError),
    #[error("the run panicked")]
    Panicked,
    #[error(transparent)]
    Transcode(#[from] crate::PipelineError),
    #[error("it fell back (ran on {ran}); the worker's log says why")]
    FellBack { ran: String },
}

/// The first missing piece of a mode, or `None` when it has them all.
pub(super) fn first_missing(pieces: &[(&str, bool, Option<&String>)]) -> Option<String> {
    pieces.iter().find(|(_, ok, _)| !ok).map(|(name, _, why)| {
        format!(
            "needs {name}: {}",
            why.map_or("not available", String::as_str)
        )
    })
}

pub(super) fn modes(
    nvdec_h264: &CodecPiece,
    scale_cuda: &Piece,
    nvenc: &Piece,
    run_for: Duration,
) -> Vec<ModeRun> {
    let nvdec = (
        "NVDEC (H.264)",
        nvdec_h264.available,
        nvdec_h264.reason.as_ref(),
    );
    let scale = (
        "scale_cuda",
        scale_cuda.available,
        scale_cuda.reason.as_ref(),
    );
    let enc = ("NVENC (H.264)", nvenc.available, nvenc.reason.as_ref());
    let mut clip_file: Option<Result<tempfile::TempDir, RunError>> = None;
    VideoPath::ALL
        .into_iter()
        .map(|path| {
            let needs: Vec<_> = match path {
                VideoPath::ZeroCopy => vec![nvdec, scale, enc],
                VideoPath::Upload => vec![enc],
                VideoPath::Hybrid => vec![nvdec, scale],
                VideoPath::Cpu => vec![],
            };
            let mut mode = ModeRun {
                mode: path.as_str(),
                decode: if path.gpu_decode() { "nvdec" } else { "cpu" },
                scale: if path.gpu_decode() {
                    "scale_cuda"
                } else {
                    "cpu"
                },
                encode: match path.encoder() {
                    crate::encoder::EncoderKind::Nvenc => "nvenc",
                    crate::encoder::EncoderKind::X264 => "libx264",
                },
                available: false,
                reason: first_missing(&needs),
                frames_per_second: None,
                seconds: None,
            };
            if mode.reason.is_some() {
                return mode;
            }
            if run_for.is_zero() {
                mode.available = true;
                return mode;
            }
            let dir = clip_file.get_or_insert_with(|| make_clip(run_for));
            let ran = match dir {
                Ok(d) => run(path, d.path()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match ran {
                Ok(fps) => {
                    mode.available = true;
                    mode.frames_per_second = Some(fps);
                    mode.seconds = Some(run_for.as_secs_f64());
                }
                Err(e) => mode.reason = Some(format!("the run failed: {e}")),
            }
            mode
        })
        .collect()
}

fn make_clip(run_for: Duration) -> Result<tempfile::TempDir, RunError> {
    let dir = tempfile::tempdir().map_err(RunError::TempDir)?;
    clip::write(&dir.path().join("clip.mp4"), run_for.as_secs_f64())?;
    Ok(dir)
}

/// The check's ladder, decoded where `path` decodes.
fn profile(path: VideoPath) -> LadderProfile {
    let decoder = if path.gpu_decode() { "nvdec" } else { "cpu" };
    let yaml = format!(
        "name: gpu-check\nsegment_duration: 2\ngop: 2\ndecoder: {decoder}\nallow_cpu: false\nvideo:\n  - {{ name: 720p, width: {}, height: {}, bitrate: 3000k }}\n  - {{ name: 480p, width: 854, height: 480, bitrate: 1500k }}\n  - {{ name: 360p, width: 640, height: 360, bitrate: 800k }}\naudio: []\n",
        clip::WIDTH,
        clip::HEIGHT
    );
    LadderProfile::from_yaml("gpu-check", &yaml).expect("the check's profile is valid")
}

/// Runs the ladder on `path` over the clip in `dir`; source frames per second.
fn run(path: VideoPath, dir: &std::path::Path) -> Result<f64, RunError> {
    let out = tempfile::tempdir_in(dir).map_err(RunError::TempDir)?;
    let job = TranscodeJob {
        input: dir.join("clip.mp4").to_string_lossy().into_owned(),
        profile: profile(path),
        out: Location::Local(out.path().to_path_buf()),
        encoder: Some(path.encoder()),
        force: false,
        stop: None,
    };
    // Its own thread: the transcode runs its storage on a runtime of its own.
    let started = Instant::now();
    let report = std::thread::spawn(move || transcode(&job, Arc::new(Progress::default())))
        .join()
        .map_err(|_| RunError::Panicked)??;
    let wall = started.elapsed().as_secs_f64().max(1e-3);
    if report.paths != [path] {
        let ran: Vec<_> = report.paths.iter().map(|p| p.as_str()).collect();
        return Err(RunError::FellBack {
            ran: ran.join(" then "),
        });
    }
    Ok(report.video_frames as f64 / wall)
}
