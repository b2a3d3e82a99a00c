//! The threads of a session and how they end: one per encoded rendition,
//! one for audio. A stage that fails records its error; a stage that panics
//! is reported as [`PipelineError::StagePanicked`], never silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Sender};
use ffmpeg_next::frame;
use prometheus::IntGauge;

use crate::audio::{AudioLadder, AudioMsg};
use crate::boundary::Boundary;
use crate::pack::PackSender;
use crate::rendition::{Picture, RenditionEncoder, VideoJob};
use crate::PipelineError;

/// Frames queued per rendition: enough to absorb one slow frame, small
/// enough that a slow encoder slows the decoder instead of growing memory.
const VIDEO_QUEUE: usize = 4;
/// Audio messages queued.
const AUDIO_QUEUE: usize = 64;

/// The running threads of one session.
pub(crate) struct Stages {
    pub video: Vec<Sender<VideoJob>>,
    pub audio: Option<Sender<AudioMsg>>,
    /// The preview picture's thread: handed a picture at segment starts when idle.
    thumbnails: Option<Sender<Arc<frame::Video>>>,
    /// Depth gauges of the queues above, in the same order (video, then audio).
    depth: Vec<(usize, IntGauge)>,
    threads: Vec<(String, JoinHandle<()>)>,
    errors: Arc<Mutex<Vec<PipelineError>>>,
    /// Media end of the session's encoded tracks, video and audio (90 kHz):
    /// where the next session starts on the timeline.
    pub max_end: Arc<AtomicU64>,
}

impl Stages {
    pub fn new() -> Self {
        Self {
            video: Vec::new(),
            audio: None,
            thumbnails: None,
            depth: Vec::new(),
            threads: Vec::new(),
            errors: Arc::default(),
            max_end: Arc::default(),
        }
    }

    /// Starts the thread of an encoded rendition.
    pub fn spawn_rendition(
        &mut self,
        label: &str,
        encoder: RenditionEncoder,
        out: PackSender,
        depth: Option<IntGauge>,
    ) -> Result<(), PipelineError> {
        let (tx, rx) = bounded::<VideoJob>(VIDEO_QUEUE);
        let name = encoder.name().to_string();
        let (errors, max_end) = (self.errors.clone(), self.max_end.clone());
        let span = tracing::info_span!("rendition", channel = %label, rendition = %name);
        let handle = thread::Builder::new()
            .name(format!("enc-{name}"))
            .spawn(move || {
                let _e = span.enter();
                if let Err(e) = encoder.run(rx, &out, &max_end) {
                    tracing::error!(error = %e, "rendition encoder stopped");
                    record(&errors, e);
                }
            })
            .map_err(|source| PipelineError::Spawn {
                stage: "encoder",
                source,
            })?;
        if let Some(d) = depth {
            self.depth.push((self.video.len(), d));
        }
        self.video.push(tx);
        self.threads.push((format!("encoder {name}"), handle));
        Ok(())
    }

    /// Starts the audio thread; its tracks are `first_track`, `first_track + 1`, ...
    pub fn spawn_audio(
        &mut self,
        label: &str,
        mut audio: AudioLadder,
        out: PackSender,
        first_track: usize,
        depth: Option<IntGauge>,
    ) -> Result<(), PipelineError> {
        let (tx, rx) = bounded::<AudioMsg>(AUDIO_QUEUE);
        let (errors, max_end) = (self.errors.clone(), self.max_end.clone());
        let span = tracing::info_span!("rendition", channel = %label, rendition = "audio");
        let handle = thread::Builder::new()
            .name("audio".into())
            .spawn(move || {
                let _e = span.enter();
                crate::failpoint::hit("audio-thread");
                let ran = audio.run(rx, &out, first_track);
                max_end.fetch_max(audio.end_90k().max(0) as u64, Ordering::Relaxed);
                if let Err(e) = ran {
                    tracing::error!(error = %e, "audio stopped");
                    record(&errors, e);
                }
            })
            .map_err(|source| PipelineError::Spawn {
                stage: "audio",
                source,
            })?;
        if let Some(d) = depth {
            self.depth.push((usize::MAX, d));
        }
        self.audio = Some(tx);
        self.threads.push(("audio".into(), handle));
        Ok(())
    }

    /// Starts the thread of the channel's preview picture (`crate::thumbnail`).
    pub fn spawn_thumbnails(&mut self, label: &str, out: PackSender) -> Result<(), PipelineError> {
        let (tx, rx) = bounded::<Arc<frame::Video>>(1);
        let span = tracing::info_span!("thumbnails", channel = %label);
        let handle = thread::Builder::new()
            .name("thumbnails".into())
            .spawn(move || {
                let _e = span.enter();
                crate::thumbnail::run(rx, &out);
            })
            .map_err(|source| PipelineError::Spawn {
                stage: "thumbnails",
                source,
            })?;
        self.thumbnails = Some(tx);
        self.threads.push(("thumbnails".into(), handle));
        Ok(())
    }

    /// Sends a picture at `pts` to every rendition and tells the audio
    /// stage the video reached it; `false` when a stage is gone.
    pub fn picture(&self, picture: Picture, pts: i64, boundary: Boundary) -> bool {
        if let (Some(tx), Picture::Decoded(f), true) =
            (&self.thumbnails, &picture, boundary.segment_start)
        {
            // Skipped while the last one is still being made.
            let _ = tx.try_send(f.clone());
        }
        let sent = self.video.iter().all(|tx| {
            tx.send(VideoJob {
                picture: picture.clone(),
                pts,
                boundary,
            })
            .is_ok()
        });
        let heard = self.video_reached(pts);
        self.measure_queues();
        sent && heard
    }

    /// Tells the audio stage the video reached `pts` without a picture
    /// (a copied frame that is not decoded); `false` when it is gone.
    pub fn video_reached(&self, pts: i64) -> bool {
        self.audio
            .as_ref()
            .is_none_or(|tx| tx.send(AudioMsg::VideoAt(pts)).is_ok())
    }

    /// Sets the queue depth gauges (the session thread calls it as it fans out).
    pub fn measure_queues(&self) {
        for (i, gauge) in &self.depth {
            let len = match self.video.get(*i) {
                Some(tx) => tx.len(),
                None => self.audio.as_ref().map_or(0, Sender::len),
            };
            gauge.set(len as i64);
        }
    }

    /// Closes every queue, waits for every thread, and returns the first
    /// failure: a panic before an error, since a panic explains the errors
    /// of the stages that lost their peer.
    pub fn join(mut self) -> Result<(), PipelineError> {
        self.video.clear();
        self.audio = None;
        self.thumbnails = None;
        let mut panicked = None;
        for (stage, handle) in self.threads.drain(..) {
            if handle.join().is_err() {
                tracing::error!(%stage, "pipeline thread panicked; the broadcast ends");
                panicked.get_or_insert(PipelineError::StagePanicked { stage });
            }
        }
        if let Some(p) = panicked {
            return Err(p);
        }
        let mut errors =
            std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.remove(0))
        }
    }
}

fn record(errors: &Mutex<Vec<PipelineError>>, e: PipelineError) {
    errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
}

/// Waits for a stage's thread; a panic becomes [`PipelineError::StagePanicked`].
pub(crate) fn join<T>(
    stage: &str,
    handle: JoinHandle<Result<T, PipelineError>>,
) -> Result<T, PipelineError> {
    match handle.join() {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(%stage, "pipeline thread panicked");
            Err(PipelineError::StagePanicked {
                stage: stage.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_stage_is_reported() {
        let mut stages = Stages::new();
        let handle = thread::spawn(|| panic!("boom"));
        stages.threads.push(("audio".into(), handle));
        let ok = thread::spawn(|| {});
        stages.threads.push(("encoder 360p".into(), ok));
        match stages.join() {
            Err(PipelineError::StagePanicked { stage }) => assert_eq!(stage, "audio"),
            other => panic!("expected a panic report, got {other:?}"),
        }
        let h = thread::spawn(|| -> Result<(), PipelineError> { panic!("boom") });
        assert!(matches!(
            join("packager", h),
            Err(PipelineError::StagePanicked { .. })
        ));
    }

    #[test]
    fn an_error_is_reported_when_nothing_panicked() {
        let stages = Stages::new();
        record(&stages.errors, PipelineError::PackagerGone);
        assert!(matches!(stages.join(), Err(PipelineError::PackagerGone)));
    }
}
