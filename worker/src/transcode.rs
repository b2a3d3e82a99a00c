//! `livefleet transcode`: one input file or URL through the whole pipeline to a
//! directory, ending exactly as a live channel ends (live-to-VOD).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use livefleet_packager::{CacheClass as PackCache, Output};
use livefleet_profile::LadderProfile;
use livefleet_storage::{CacheClass, LocalDir, ObjectMeta, Storage};

use crate::encoder::{self, EncoderKind};
use crate::pipeline::{now_unix_ms, Broadcast, BroadcastConfig, OutputSink, Progress};
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

/// Writes packager output into any [`Storage`], synchronously and in order.
pub struct StorageSink {
    runtime: tokio::runtime::Runtime,
    storage: Arc<dyn Storage>,
    prefix: String,
}

impl StorageSink {
    /// `prefix` is put in front of every key (e.g. `live/demo/`; empty for none).
    pub fn new(storage: Arc<dyn Storage>, prefix: impl Into<String>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            runtime,
            storage,
            prefix: prefix.into(),
        })
    }
}

/// The storage cache class for a packager object.
pub fn cache_class(c: &PackCache) -> CacheClass {
    match c {
        PackCache::Immutable => CacheClass::Immutable,
        PackCache::Manifest => CacheClass::Manifest,
        PackCache::Final => CacheClass::Final,
    }
}

impl OutputSink for StorageSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), String> {
        for o in outputs {
            match o {
                Output::Put {
                    path,
                    body,
                    content_type,
                    cache,
                } => {
                    let key = format!("{}{}", self.prefix, path);
                    let meta = ObjectMeta {
                        content_type: content_type.to_string(),
                        cache: cache_class(&cache),
                    };
                    self.runtime
                        .block_on(self.storage.put(&key, body, meta))
                        .map_err(|e| format!("writing {key}: {e}"))?;
                }
            }
        }
        Ok(())
    }
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
    let kind = match job.encoder {
        Some(k) => k,
        None => encoder::select(&job.profile, encoder::probe_nvenc)?.kind,
    };
    let mut source = FileSource::open(&job.input)?;
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
    let mut broadcast = Broadcast::new(config, Box::new(sink), progress.clone());
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
