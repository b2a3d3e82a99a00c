//! One channel's broadcast across its publish sessions.
//!
//! A [`Broadcast`] outlives its publish sessions: a publisher that reconnects
//! within the grace period continues the same broadcast, with one
//! discontinuity at the same segment in every rendition. The media timeline
//! continues across sessions (see [`crate::timeline`]), so segment numbers
//! and `tfdt` keep increasing. A session whose source has another size or
//! other codec parameters gets new init segments in every rendition
//! ([`PackMsg::Reconfigure`]); the renditions themselves stay those of the
//! first session.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ff::Rational;
use ffmpeg_next as ff;
use livefleet_base::now_unix_ms;
use livefleet_packager::{CaptionService, PackagerConfig, PackagerState, TrackSpec};
use livefleet_profile::LadderProfile;

use crate::encoder::{EncoderKind, Selection};
use crate::hw::{self, GpuError};
use crate::ladder::Ladder;
use crate::pack::{self, PackMsg, PackSender};
pub use crate::progress::Progress;
use crate::session::PathChoice;
use crate::session::SessionHost;
use crate::sink::OutputSink;
use crate::source::PacketSource;
use crate::threads::Pace;
use crate::video_path::{self, GpuPiece, Offer, VideoPath};
use crate::PipelineError;

/// How a broadcast is encoded and packaged.
#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    /// Channel name (or input name) for logs.
    pub label: String,
    pub profile: LadderProfile,
    /// The node's encoder (NVENC where a session opens) and why not NVENC.
    pub encoder: Selection,
    /// Segments listed in live playlists.
    pub live_window: usize,
    /// Seconds of DVR window listed instead, when set.
    pub dvr_window: Option<f64>,
    /// Wall clock of media time 0 (PROGRAM-DATE-TIME, DASH availabilityStartTime).
    pub start_time_unix_ms: i64,
    /// File generation (a fleet worker's assignment epoch); `None` = automatic.
    pub generation: Option<u32>,
    /// The MPD's HTTP time source (see `PackagerConfig::utc_timing_url`).
    pub utc_timing_url: Option<String>,
    /// Live (real time) or a file: decides the encoders' threads.
    pub pace: Pace,
    /// Delete segments that left the live manifests (see
    /// `PackagerConfig::expire_segments`): a live channel that is not archived.
    pub expire_segments: bool,
}

/// A channel's broadcast across publish sessions.
pub struct Broadcast {
    pub(crate) config: BroadcastConfig,
    pub(crate) pack: PackSender,
    packager: Option<JoinHandle<Result<PackagerState, PipelineError>>>,
    /// The renditions, fixed by the first session (refitted to later sources).
    ladder: Option<Ladder>,
    /// The packager tracks of the last session: a session whose tracks differ reconfigures.
    tracks: Option<Vec<TrackSpec>>,
    resume: Option<PackagerState>,
    pub(crate) sessions: u32,
    /// End of the media timeline so far, in the 90 kHz clock.
    pub(crate) timeline_end_90k: i64,
    pub(crate) progress: Arc<Progress>,
    /// GPU pieces that failed in this broadcast: they stay out of its later sessions.
    failed: Vec<(GpuPiece, GpuError)>,
    /// The video path of the last session.
    path: Option<VideoPath>,
    /// GPU pieces a test pretends this machine has (the fallback tests).
    #[cfg(test)]
    pub(crate) pretend: Option<Offer>,
}

impl Broadcast {
    /// Starts the package stage. Nothing is written before the first session.
    pub fn new(
        config: BroadcastConfig,
        sink: Box<dyn OutputSink>,
        progress: Arc<Progress>,
    ) -> Result<Self, PipelineError> {
        Self::build(config, sink, progress, None, 0)
    }

    /// Continues a broadcast another worker started (failover), from its packager state.
    pub fn resume(
        config: BroadcastConfig,
        sink: Box<dyn OutputSink>,
        progress: Arc<Progress>,
        state: PackagerState,
        timeline_end_90k: i64,
    ) -> Result<Self, PipelineError> {
        Self::build(config, sink, progress, Some(state), timeline_end_90k)
    }

    fn build(
        config: BroadcastConfig,
        sink: Box<dyn OutputSink>,
        progress: Arc<Progress>,
        resume: Option<PackagerState>,
        timeline_end_90k: i64,
    ) -> Result<Self, PipelineError> {
        let pconfig = PackagerConfig {
            segment_duration: config.profile.segment_duration,
            live_window: config.live_window,
            dvr_window: config.dvr_window,
            start_time_unix_ms: config.start_time_unix_ms,
            generation: config.generation,
            utc_timing_url: config.utc_timing_url.clone(),
            expire_segments: config.expire_segments,
            captions: config
                .profile
                .captions
                .iter()
                .map(|c| CaptionService {
                    channel: c.channel.clone(),
                    language: c.language.clone(),
                    name: c.name.clone(),
                })
                .collect(),
        };
        let (pack, packager) = pack::spawn(&config.label, pconfig, sink, progress.clone())?;
        Ok(Self {
            config,
            pack,
            packager: Some(packager),
            ladder: None,
            tracks: None,
            resume,
            sessions: 0,
            timeline_end_90k,
            progress,
            failed: Vec::new(),
            path: None,
            #[cfg(test)]
            pretend: None,
        })
    }

    /// End of the media timeline so far (90 kHz), kept with the packager state for failover.
    pub fn timeline_end_90k(&self) -> i64 {
        self.timeline_end_90k
    }

    /// Runs one publish session from its first packet to its end. Blocks.
    pub fn run_session(&mut self, source: &mut dyn PacketSource) -> Result<(), PipelineError> {
        let span = tracing::info_span!("session", channel = %self.config.label, session = self.sessions + 1);
        let _enter = span.enter();
        if let Some(d) = source.info().duration {
            self.progress
                .duration_ms
                .store((d * 1000.0) as u64, Ordering::Relaxed);
        }
        loop {
            let result = crate::session::run(self, source);
            self.sessions += 1;
            match result {
                Err(PipelineError::Gpu { piece, source })
                    if !self.failed.iter().any(|(p, _)| *p == piece) =>
                {
                    // The source goes on: the next session reads it from here,
                    // on the next path, after one discontinuity.
                    tracing::warn!(%piece, error = %source, "a GPU piece failed; the channel continues on the next video path");
                    self.failed.push((piece, source));
                }
                Err(e) => return Err(self.first_cause(e)),
                ok => return ok,
            }
        }
    }

    /// The error to report for a failed session: the package stage's own,
    /// when it stopped first (a store that refuses writes shows up in the
    /// encoder threads only as "packager is gone"), otherwise `e`.
    fn first_cause(&mut self, e: PipelineError) -> PipelineError {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.packager.as_ref().is_some_and(|h| !h.is_finished()) {
            if Instant::now() >= deadline {
                return e; // the packager is alive: the session failed on its own
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match self.join_packager() {
            Err(first) => first,
            Ok(_) => e,
        }
    }

    /// Ends the broadcast: closes the last segments and writes the live-to-VOD
    /// manifests (ENDLIST, static MPD). Returns the final packager state.
    pub fn finish(mut self) -> Result<PackagerState, PipelineError> {
        let _ = self.pack.send(PackMsg::Finish);
        self.join_packager()
    }

    /// Stops without writing the ending: the manifests stay live (no ENDLIST),
    /// so a failed broadcast never looks complete.
    pub fn abandon(mut self) -> Result<PackagerState, PipelineError> {
        self.join_packager()
    }

    fn join_packager(&mut self) -> Result<PackagerState, PipelineError> {
        drop(std::mem::replace(&mut self.pack, PackSender::closed()));
        match self.packager.take() {
            Some(h) => crate::stages::join("packager", h),
            None => Err(PipelineError::PackagerGone),
        }
    }
}

impl SessionHost for Broadcast {
    fn label(&self) -> &str {
        &self.config.label
    }

    fn profile(&self) -> &LadderProfile {
        &self.config.profile
    }

    fn video_path(
        &mut self,
        stream: &crate::source::StreamInfo,
    ) -> Result<PathChoice, PipelineError> {
        let codec = stream.parameters.id();
        let profile = &self.config.profile;
        let decoder = match profile.decoder {
            // A channel that keeps running on the CPU beats a dead one.
            livefleet_profile::DecoderChoice::Nvdec if !self.failed.is_empty() => {
                livefleet_profile::DecoderChoice::Auto
            }
            d => d,
        };
        let mut device = None;
        let gpu_decode = if decoder == livefleet_profile::DecoderChoice::Cpu {
            Err(GpuError::NotChosen("the profile says decoder: cpu"))
        } else if let Some(why) = crate::picture::cpu_decode_reason(stream) {
            Err(GpuError::NotChosen(why))
        } else {
            hw::nvdec_offer(codec).map(|d| device = Some(d))
        };
        let sel = &self.config.encoder;
        let mut offer = Offer {
            gpu_decode,
            nvenc: match sel.kind {
                EncoderKind::Nvenc => Ok(()),
                EncoderKind::X264 => Err(sel
                    .nvenc_unavailable
                    .clone()
                    .unwrap_or(GpuError::NotChosen("the profile says encoder: x264"))),
            },
        };
        #[cfg(test)]
        if let Some(pretend) = &self.pretend {
            offer = pretend.clone();
        }
        for (piece, why) in &self.failed {
            offer.without(*piece, why);
        }
        let choice = video_path::choose(decoder, &offer, profile.uses_hevc())?;
        let path = choice.path;
        if self.path != Some(path) {
            let meter = self.progress.meter.as_ref();
            match self.path {
                Some(from) => {
                    meter.inspect(|m| m.fell_back(from, path));
                    tracing::warn!(%from, to = %path, stages = path.stages(), not_used = %choice.not_used.join("; "), "video path changed");
                }
                None => {
                    tracing::info!(%path, stages = path.stages(), not_used = %choice.not_used.join("; "), "video path")
                }
            }
            self.path = Some(path);
            self.progress
                .paths
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((path, choice.not_used.join("; ")));
        }
        if let Some(m) = &self.progress.meter {
            m.video_path(path);
        }
        let device = device.filter(|_| path != VideoPath::Upload && path != VideoPath::Cpu);
        Ok(PathChoice { path, device })
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }

    fn pack(&self) -> &PackSender {
        &self.pack
    }

    fn first_session(&self) -> bool {
        self.sessions == 0
    }

    fn timeline_end_90k(&self) -> i64 {
        self.timeline_end_90k
    }

    fn extend_timeline(&mut self, end_90k: i64) {
        self.timeline_end_90k = self.timeline_end_90k.max(end_90k);
    }

    /// The session's ladder: planned from the first session's source, and
    /// the same renditions fitted to a later session's source.
    fn ladder_for(
        &mut self,
        width: u32,
        height: u32,
        fps: Rational,
    ) -> Result<Ladder, PipelineError> {
        let profile = &self.config.profile;
        let ladder = match &self.ladder {
            Some(l) => l.refit(profile, width, height, fps),
            None => {
                let (l, dropped) = Ladder::first(profile, width, height, fps, self.config.pace);
                for (name, why) in &dropped {
                    tracing::info!(rendition = %name, reason = %why, "rendition dropped");
                }
                l
            }
        };
        if ladder.is_empty() {
            return Err(PipelineError::NothingToEncode { width, height });
        }
        self.ladder = Some(ladder.clone());
        Ok(ladder)
    }

    /// Tells the package stage a session starts with `tracks`: the
    /// broadcast's start, a discontinuity, or new init segments when the
    /// tracks are configured otherwise than in the last session.
    fn announce(&mut self, tracks: Vec<TrackSpec>) -> Result<(), PipelineError> {
        let msg = match &self.tracks {
            None => {
                let state = self.resume.take();
                let resumed = self.timeline_end_90k > 0;
                self.pack.send(PackMsg::Start {
                    tracks: tracks.clone(),
                    state,
                })?;
                resumed.then(|| PackMsg::Discontinuity(now_unix_ms()))
            }
            Some(previous) if *previous == tracks => Some(PackMsg::Discontinuity(now_unix_ms())),
            Some(_) => {
                tracing::info!("the source changed (size or codec parameters): new init segments in every rendition");
                Some(PackMsg::Reconfigure {
                    tracks: tracks.clone(),
                    wallclock_ms: now_unix_ms(),
                })
            }
        };
        if let Some(msg) = msg {
            self.pack.send(msg)?;
        }
        self.tracks = Some(tracks);
        Ok(())
    }
}

impl Drop for Broadcast {
    fn drop(&mut self) {
        if self.packager.is_some() {
            let _ = self.join_packager();
        }
    }
}
