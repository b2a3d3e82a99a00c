//! `livefleet transcode`: one input file or URL through the whole pipeline to a
//! directory, ending exactly as a live channel ends (live-to-VOD).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use livefleet_base::layout;
use livefleet_base::now_unix_ms;
use livefleet_profile::LadderProfile;
use livefleet_storage::{Location, RetryPolicy, RetryingStorage, Storage, StorageMetrics};

use crate::broadcast::{Broadcast, BroadcastConfig, Progress};
use crate::encoder::{self, EncoderKind};
use crate::error::OutputError;
use crate::sink::StorageSink;
use crate::source::FileSource;
use crate::PipelineError;

/// What to transcode, and where to.
#[derive(Debug, Clone)]
pub struct TranscodeJob {
    pub input: String,
    pub profile: LadderProfile,
    /// A directory or `s3://BUCKET/PREFIX`.
    pub out: Location,
    /// Forces an encoder family instead of probing (tests, benchmarks).
    pub encoder: Option<EncoderKind>,
    /// Replace what `out` already holds (otherwise a non-empty `out` is refused).
    pub force: bool,
    /// Set (by a Ctrl-C) to stop early: the input ends where it is and the
    /// output is finished as a complete VOD of what was transcoded, as the
    /// ffmpeg CLI finishes its file.
    pub stop: Option<Arc<AtomicBool>>,
}

/// Figures of a finished transcode.
#[derive(Debug, Clone)]
pub struct TranscodeReport {
    pub encoder: EncoderKind,
    pub media_seconds: f64,
    /// Seconds of the input read: more than `media_seconds` where media was
    /// lost on the way (a GPU failure's frames in flight).
    pub read_seconds: f64,
    /// Frames of video made (`Progress::video_frames`).
    pub video_frames: u64,
    pub segments_written: u64,
    pub corrupt_packets: u64,
    /// Seconds of video made by holding the last picture where the audio
    /// runs past the video (`crate::hold`).
    pub held_seconds: f64,
    /// Places where the input's timestamps jumped and were joined (MPEG-TS
    /// recordings joined end to end).
    pub timestamp_joins: u32,
    /// Stopped early by [`TranscodeJob::stop`]: the output holds the first
    /// `media_seconds` of the input.
    pub interrupted: bool,
    /// The input's declared duration in seconds, when it declares one.
    pub declared_seconds: Option<f64>,
    /// The video paths the transcode ran on (more than one after a GPU failure).
    pub paths: Vec<crate::video_path::VideoPath>,
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
    let selection = match job.encoder {
        Some(EncoderKind::X264) => encoder::Selection {
            kind: EncoderKind::X264,
            nvenc_unavailable: Some(crate::hw::GpuError::NotChosen(
                "the encoder was set to x264",
            )),
        },
        Some(kind) => encoder::Selection {
            kind,
            nvenc_unavailable: None,
        },
        None => encoder::select(&job.profile, encoder::probe_nvenc)?,
    };
    let kind = selection.kind;
    let mut source = FileSource::open_until(&job.input, job.stop.clone())?;
    source.report_to(progress.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(OutputError::Runtime)?;
    let out = job.out.to_string();
    let storage = runtime
        .block_on(job.out.open())
        .map_err(|source| OutputError::Store {
            what: "cannot open",
            out: out.clone(),
            source,
        })?;
    runtime.block_on(clear_out(&*storage, &out, job.force))?;
    // A remote store's passing failures are retried; a directory's are not (they do not pass).
    let storage: Arc<dyn Storage> = match job.out {
        Location::Local(_) => storage,
        Location::S3 { .. } => Arc::new(RetryingStorage::new(
            storage,
            RetryPolicy::default(),
            StorageMetrics::unregistered().map_err(OutputError::Metrics)?,
        )),
    };
    let sink = StorageSink::with_runtime(runtime, storage, "");
    let config = BroadcastConfig {
        label: job.input.clone(),
        profile: job.profile.clone(),
        encoder: selection,
        live_window: 6,
        dvr_window: None,
        start_time_unix_ms: now_unix_ms(),
        generation: None,
        utc_timing_url: None,
        pace: crate::threads::Pace::Unbounded,
        expire_segments: false,
    };
    let mut broadcast = Broadcast::new(config, Box::new(sink), progress.clone())?;
    if let Err(e) = broadcast.run_session(&mut source) {
        let _ = broadcast.abandon();
        return Err(e);
    }
    let media_seconds = progress.media_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let declared = progress.duration_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let interrupted = job.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
    if interrupted {
        tracing::info!(input = %job.input, media_seconds, "stopped early; finishing the output with what was transcoded");
    } else if declared > 0.0 && source.reached_seconds() + 1.5 < declared {
        // Judged by what was read, not by what the output kept: a session
        // that moved to the CPU after a GPU failure loses the media in
        // flight, and that is no reason to refuse the whole input. Audio
        // that runs past the video counts: a video stream of one still
        // frame under 10 s of audio is no truncated file.
        let read_seconds = source.reached_seconds();
        tracing::warn!(input = %job.input, read_seconds, media_seconds, declared, "input ended before its declared duration");
        let _ = broadcast.abandon();
        return Err(PipelineError::Truncated {
            media_seconds: read_seconds,
            declared,
        });
    }
    broadcast.finish()?;
    Ok(TranscodeReport {
        encoder: kind,
        media_seconds,
        read_seconds: source.read_seconds(),
        video_frames: progress.video_frames(),
        segments_written: progress.segments_written.load(Ordering::Relaxed),
        corrupt_packets: progress.corrupt_packets.load(Ordering::Relaxed),
        held_seconds: progress.held_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        timestamp_joins: source.joins(),
        interrupted,
        declared_seconds: (declared > 0.0).then_some(declared),
        paths: progress.paths(),
    })
}

/// Makes the output location ready for a new output. A location that
/// already holds objects is refused unless `force`: writing over a previous
/// VOD would leave its complete-looking manifests beside the new run's
/// segments until the new run ends, and for good if it failed. With `force`,
/// the previous output's manifests go first (from then on nothing there looks
/// complete), with its storyboard's cues, then its segments and sprites;
/// objects that are not ours are left alone.
pub async fn clear_out(storage: &dyn Storage, out: &str, force: bool) -> Result<(), PipelineError> {
    let failed = |what: &'static str, source: livefleet_storage::StorageError| OutputError::Store {
        what,
        out: out.to_owned(),
        source,
    };
    let keys = storage
        .list("")
        .await
        .map_err(|e| failed("cannot list the output", e))?;
    if keys.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(OutputError::NotEmpty {
            out: out.to_owned(),
        }
        .into());
    }
    let name = |k: &str| k.rsplit('/').next().unwrap_or(k).to_owned();
    let manifests = keys
        .iter()
        .filter(|k| k.ends_with(".m3u8") || k.ends_with(".mpd") || *k == layout::STORYBOARD_PATH);
    let media = keys.iter().filter(|k| {
        let n = name(k);
        n.ends_with(".m4s")
            || (n.starts_with("init") && n.ends_with(".mp4"))
            || layout::is_storyboard_sprite(k)
    });
    let mut removed = 0;
    for key in manifests.chain(media) {
        storage
            .delete(key)
            .await
            .map_err(|e| failed("cannot remove the previous output's objects in", e))?;
        removed += 1;
    }
    tracing::info!(%out, removed, "previous output removed (--force)");
    Ok(())
}
