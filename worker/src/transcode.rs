//! `livefleet transcode`: one input file or URL through the whole pipeline to a
//! directory, ending exactly as a live channel ends (live-to-VOD).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use livefleet_base::now_unix_ms;
use livefleet_profile::LadderProfile;
use livefleet_storage::LocalDir;

use crate::broadcast::{Broadcast, BroadcastConfig, Progress};
use crate::encoder::{self, EncoderKind};
use crate::sink::StorageSink;
use crate::source::FileSource;
use crate::PipelineError;

/// What to transcode, and where to.
#[derive(Debug, Clone)]
pub struct TranscodeJob {
    pub input: String,
    pub profile: LadderProfile,
    pub out: PathBuf,
    /// Forces an encoder family instead of probing (tests, benchmarks).
    pub encoder: Option<EncoderKind>,
    /// Replace what `out` already holds (otherwise a non-empty `out` is refused).
    pub force: bool,
}

/// Figures of a finished transcode.
#[derive(Debug, Clone)]
pub struct TranscodeReport {
    pub encoder: EncoderKind,
    pub media_seconds: f64,
    pub frames_decoded: u64,
    pub segments_written: u64,
    pub corrupt_packets: u64,
}

/// Runs a transcode to completion. On error the manifests are left without
/// their ending (no ENDLIST, dynamic MPD), so a failed output never looks complete.
pub fn transcode(
    job: &TranscodeJob,
    progress: Arc<Progress>,
) -> Result<TranscodeReport, PipelineError> {
    ffmpeg_next::init().map_err(|source| PipelineError::Decoder {
        what: "FFmpeg initialisation",
        source,
    })?;
    crate::ffmpeg_log::route_to_tracing();
    let kind = match job.encoder {
        Some(k) => k,
        None => encoder::select(&job.profile, encoder::probe_nvenc)?.kind,
    };
    let mut source = FileSource::open(&job.input)?;
    clear_out(&job.out, job.force)?;
    let storage =
        LocalDir::new(job.out.clone()).map_err(|e| PipelineError::Output(e.to_string()))?;
    let sink = StorageSink::new(Arc::new(storage), "")
        .map_err(|e| PipelineError::Output(e.to_string()))?;
    let config = BroadcastConfig {
        label: job.input.clone(),
        profile: job.profile.clone(),
        encoder: kind,
        live_window: 6,
        dvr_window: None,
        start_time_unix_ms: now_unix_ms(),
        generation: None,
    };
    let mut broadcast = Broadcast::new(config, Box::new(sink), progress.clone())?;
    if let Err(e) = broadcast.run_session(&mut source) {
        let _ = broadcast.abandon();
        return Err(e);
    }
    let media_seconds = progress.media_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let declared = progress.duration_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    if declared > 0.0 && media_seconds + 1.5 < declared {
        tracing::warn!(input = %job.input, media_seconds, declared, "input ended before its declared duration");
        let _ = broadcast.abandon();
        return Err(PipelineError::Truncated {
            media_seconds,
            declared,
        });
    }
    broadcast.finish()?;
    Ok(TranscodeReport {
        encoder: kind,
        media_seconds,
        frames_decoded: progress.frames_decoded.load(Ordering::Relaxed),
        segments_written: progress.segments_written.load(Ordering::Relaxed),
        corrupt_packets: progress.corrupt_packets.load(Ordering::Relaxed),
    })
}

/// Makes `out` ready for a new output. A directory that already holds files
/// is refused unless `force`: writing over a previous VOD would leave its
/// complete-looking manifests beside the new run's segments until the new
/// run ends, and for good if it failed. With `force`, the previous output's
/// manifests go first (from then on nothing there looks complete), then its
/// segments; files that are not ours are left alone.
pub fn clear_out(out: &Path, force: bool) -> Result<(), PipelineError> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        PipelineError::Output(format!("{what} {}: {e}", path.display()))
    };
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("cannot read the output directory", out, e)),
    };
    let entries: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(PipelineError::Output(format!(
            "the output directory {} is not empty (a previous output?); pass --force to replace it, or choose another --out",
            out.display()
        )));
    }
    let renditions: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let mut manifests = vec![out.join("master.m3u8"), out.join("manifest.mpd")];
    manifests.extend(renditions.iter().map(|d| d.join("index.m3u8")));
    let mut media = Vec::new();
    for dir in &renditions {
        let files = std::fs::read_dir(dir).map_err(|e| io("cannot read", dir, e))?;
        media.extend(files.filter_map(|f| f.ok()).map(|f| f.path()).filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".m4s") || (name.starts_with("init") && name.ends_with(".mp4"))
        }));
    }
    for path in manifests.iter().chain(&media) {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot remove the previous output's", path, e)),
        }
    }
    tracing::info!(out = %out.display(), removed = manifests.len() + media.len(), "previous output removed (--force)");
    Ok(())
}
