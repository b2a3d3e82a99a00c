//! One channel's broadcast: publish sessions run through decode -> scale ->
//! encode -> package, with every output handed to an [`OutputSink`].
//!
//! A [`Broadcast`] outlives its publish sessions: a publisher that reconnects
//! within the grace period continues the same broadcast, with one
//! discontinuity at the same segment in every rendition. The media timeline
//! continues across sessions (the new session is stamped from where the last
//! one ended), so segment numbers and `tfdt` keep increasing.
//!
//! Threads of a session:
//! - the calling thread reads packets, decodes video once, decides segment
//!   boundaries, copies the passthrough rendition, and fans frames out;
//! - one thread per encoded video rendition scales and encodes;
//! - one audio thread decodes audio once and encodes (or copies) each audio rendition;
//! - one packager thread per broadcast turns samples into CMAF and manifests.
//!
//! Queues between them are bounded, so a slow encoder slows the reader rather
//! than growing memory.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use bytes::Bytes;
use crossbeam_channel::{bounded, Receiver, Sender};
use ff::{codec, decoder, format, frame, software::scaling, Rational, Rescale};
use ffmpeg_next as ff;
use livefleet_base::Track;
use livefleet_packager::{
    annexb, AudioConfig, Output, Packager, PackagerConfig, PackagerState, Sample, TrackId,
    TrackMedia, TrackSpec, VideoCodecConfig,
};
use livefleet_profile::{LadderProfile, VideoCodec};

use crate::audio::AudioLadder;
use crate::encoder::{self, EncoderKind, VideoSettings, VIDEO_TIME_BASE};
use crate::ladder::{self, PlannedVideo};
use crate::source::{self, PacketSource};
use crate::PipelineError;

/// Where packaged objects go. Called from the packager thread, in the order
/// the objects must be written (segments before the playlists naming them).
pub trait OutputSink: Send + 'static {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), String>;

    /// Writes a batch that updates the manifests; `state` is the packager
    /// state once they are written (a fleet worker saves it, fenced, so
    /// another worker can continue the broadcast).
    fn write_published(
        &mut self,
        outputs: Vec<Output>,
        _state: &PackagerState,
    ) -> Result<(), String> {
        self.write(outputs)
    }

    /// The packager paths (`<track>/<n>.m4s`) of the segments that could not
    /// be stored, when they changed since the last call. A sink that fails
    /// instead of losing a put never has any (the default).
    fn missing_changed(&mut self) -> Option<Vec<String>> {
        None
    }

    /// Waits until everything written is stored or given up, and tries what
    /// was given up once more: the end of a broadcast, before its last manifests.
    fn settle(&mut self) {}
}

fn is_manifest(o: &Output) -> bool {
    let p = o.path();
    p.ends_with(".m3u8") || p.ends_with(".mpd")
}

/// Counters a caller can watch while a broadcast runs (progress bars, status lines).
#[derive(Debug, Default)]
pub struct Progress {
    /// Media time reached by the decoder, in milliseconds.
    pub media_ms: AtomicU64,
    /// Declared duration of the input in milliseconds (0 = unknown / live).
    pub duration_ms: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub segments_written: AtomicU64,
    pub corrupt_packets: AtomicU64,
}

/// How a broadcast is encoded and packaged.
#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    /// Channel name (or input name) for logs.
    pub label: String,
    pub profile: LadderProfile,
    pub encoder: EncoderKind,
    /// Segments listed in live playlists.
    pub live_window: usize,
    /// Seconds of DVR window listed instead, when set.
    pub dvr_window: Option<f64>,
    /// Wall clock of media time 0 (PROGRAM-DATE-TIME, DASH availabilityStartTime).
    pub start_time_unix_ms: i64,
    /// File generation (a fleet worker's assignment epoch); `None` = automatic.
    pub generation: Option<u32>,
}

/// The audio thread's handle on the packager thread.
pub(crate) struct PackMsgSender(Sender<PackMsg>);

impl PackMsgSender {
    pub(crate) fn sample(&self, track: TrackId, sample: Sample) -> Result<(), PipelineError> {
        self.0
            .send(PackMsg::Sample(track, sample))
            .map_err(|_| PipelineError::ThreadDied("packager".into()))
    }
}

pub(crate) enum PackMsg {
    Start {
        tracks: Vec<TrackSpec>,
        state: Option<PackagerState>,
    },
    Sample(TrackId, Sample),
    Discontinuity(i64),
    Finish,
}

/// The fixed shape of a broadcast's ladder, decided by its first session.
#[derive(Clone)]
struct Ladder {
    video: Vec<PlannedVideo>,
    settings: Vec<Option<VideoSettings>>,
}

/// A channel's broadcast across publish sessions.
pub struct Broadcast {
    config: BroadcastConfig,
    to_packager: Sender<PackMsg>,
    packager: Option<JoinHandle<Result<PackagerState, PipelineError>>>,
    ladder: Option<Ladder>,
    resume: Option<PackagerState>,
    sessions: u32,
    /// End of the media timeline so far, in the 90 kHz clock.
    timeline_end_90k: i64,
    progress: Arc<Progress>,
}

impl Broadcast {
    /// Starts the packager thread. Nothing is written before the first session.
    pub fn new(
        config: BroadcastConfig,
        sink: Box<dyn OutputSink>,
        progress: Arc<Progress>,
    ) -> Self {
        Self::build(config, sink, progress, None)
    }

    /// Continues a broadcast another worker started (failover), from its packager state.
    pub fn resume(
        config: BroadcastConfig,
        sink: Box<dyn OutputSink>,
        progress: Arc<Progress>,
        state: PackagerState,
        timeline_end_90k: i64,
    ) -> Self {
        let mut b = Self::build(config, sink, progress, Some(state));
        b.timeline_end_90k = timeline_end_90k;
        b
    }

    fn build(
        config: BroadcastConfig,
        sink: Box<dyn OutputSink>,
        progress: Arc<Progress>,
        resume: Option<PackagerState>,
    ) -> Self {
        let (tx, rx) = bounded::<PackMsg>(256);
        let pconfig = PackagerConfig {
            segment_duration: config.profile.segment_duration,
            live_window: config.live_window,
            dvr_window: config.dvr_window,
            start_time_unix_ms: config.start_time_unix_ms,
            generation: config.generation,
        };
        let label = config.label.clone();
        let prog = progress.clone();
        let packager = thread::Builder::new()
            .name(format!("pack-{label}"))
            .spawn(move || packager_thread(&label, pconfig, rx, sink, &prog))
            .expect("spawning a thread only fails when the OS is out of resources");
        Self {
            config,
            to_packager: tx,
            packager: Some(packager),
            ladder: None,
            resume,
            sessions: 0,
            timeline_end_90k: 0,
            progress,
        }
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
        let result = Session::run(self, source);
        self.sessions += 1;
        match result {
            Err(e) => Err(self.first_cause(e)),
            ok => ok,
        }
    }

    /// The error to report for a failed session: the packager's own, when it
    /// stopped first (a store that refuses writes shows up in the encoder
    /// threads only as "packager is gone"), otherwise `e`.
    fn first_cause(&mut self, e: PipelineError) -> PipelineError {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while self.packager.as_ref().is_some_and(|h| !h.is_finished()) {
            if std::time::Instant::now() >= deadline {
                return e; // the packager is alive: the session failed on its own
            }
            thread::sleep(std::time::Duration::from_millis(5));
        }
        match self.join_packager() {
            Err(first) => first,
            Ok(_) => e,
        }
    }

    /// Ends the broadcast: closes the last segments and writes the live-to-VOD
    /// manifests (ENDLIST, static MPD). Returns the final packager state.
    pub fn finish(mut self) -> Result<PackagerState, PipelineError> {
        let _ = self.to_packager.send(PackMsg::Finish);
        self.join_packager()
    }

    /// Stops without writing the ending: the manifests stay live (no ENDLIST),
    /// so a failed broadcast never looks complete.
    pub fn abandon(mut self) -> Result<PackagerState, PipelineError> {
        let (tx, _) = bounded(1);
        drop(std::mem::replace(&mut self.to_packager, tx));
        self.join_packager()
    }

    fn join_packager(&mut self) -> Result<PackagerState, PipelineError> {
        let (tx, _) = bounded(1);
        drop(std::mem::replace(&mut self.to_packager, tx));
        match self.packager.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(PipelineError::ThreadDied("packager".into())),
            None => Err(PipelineError::ThreadDied(
                "packager (already joined)".into(),
            )),
        }
    }
}

impl Drop for Broadcast {
    fn drop(&mut self) {
        if self.packager.is_some() {
            let _ = self.join_packager();
        }
    }
}

fn packager_thread(
    label: &str,
    config: PackagerConfig,
    rx: Receiver<PackMsg>,
    mut sink: Box<dyn OutputSink>,
    progress: &Progress,
) -> Result<PackagerState, PipelineError> {
    let span = tracing::info_span!("packager", channel = %label);
    let _enter = span.enter();
    let mut packager: Option<Packager> = None;
    let write = |outputs: Vec<Output>,
                 sink: &mut Box<dyn OutputSink>,
                 p: &Packager|
     -> Result<(), PipelineError> {
        if outputs.is_empty() {
            return Ok(());
        }
        let segments = outputs
            .iter()
            .filter(|o| matches!(o, Output::Put { path, .. } if path.ends_with(".m4s")))
            .count();
        if outputs.iter().any(is_manifest) {
            sink.write_published(outputs, &p.state())
                .map_err(PipelineError::Output)?;
        } else {
            sink.write(outputs).map_err(PipelineError::Output)?;
        }
        progress
            .segments_written
            .fetch_add(segments as u64, Ordering::Relaxed);
        Ok(())
    };
    // Segments the store lost become gaps in the manifests, re-rendered at once.
    let sync_gaps =
        |sink: &mut Box<dyn OutputSink>, p: &mut Packager| -> Result<(), PipelineError> {
            if let Some(paths) = sink.missing_changed() {
                if p.set_missing(&paths) {
                    tracing::warn!(
                        missing = paths.len(),
                        "segments missing from the store; manifests mark them as gaps"
                    );
                    let outputs = p.manifests();
                    write(outputs, sink, p)?;
                }
            }
            Ok(())
        };
    while let Ok(msg) = rx.recv() {
        if let Some(p) = packager.as_mut() {
            sync_gaps(&mut sink, p)?;
        }
        match msg {
            PackMsg::Start { tracks, state } => {
                let (p, outputs) = match state {
                    Some(state) => Packager::resume(config.clone(), tracks, state)?,
                    None => Packager::new(config.clone(), tracks)?,
                };
                write(outputs, &mut sink, &p)?;
                packager = Some(p);
            }
            PackMsg::Sample(track, sample) => {
                let Some(p) = packager.as_mut() else { continue };
                match p.push(track, sample) {
                    Ok(outputs) => write(outputs, &mut sink, p)?,
                    Err(e) => {
                        tracing::warn!(track = track.0, error = %e, "sample dropped by the packager")
                    }
                }
            }
            PackMsg::Discontinuity(wallclock) => {
                if let Some(p) = packager.as_mut() {
                    let outputs = p.discontinuity(wallclock);
                    write(outputs, &mut sink, p)?;
                }
            }
            PackMsg::Finish => {
                if let Some(p) = packager.as_mut() {
                    sink.settle();
                    sync_gaps(&mut sink, p)?;
                    let outputs = p.finish();
                    write(outputs, &mut sink, p)?;
                    // The last segments may have been lost too: the VOD must mark them.
                    for _ in 0..2 {
                        sink.settle();
                        sync_gaps(&mut sink, p)?;
                    }
                }
                break;
            }
        }
    }
    Ok(packager.map(|p| p.state()).unwrap_or_default())
}

/// Decides, once for the whole ladder, which frames start a segment and which
/// start a GOP. Boundaries sit on a grid from the session's start; with a
/// passthrough rendition, a segment may only start on a source keyframe.
#[derive(Debug, Clone)]
pub struct BoundaryClock {
    segment: i64,
    gop: i64,
    next_segment: i64,
    next_gop: i64,
    keyframes_only: bool,
    started: bool,
}

/// What the clock says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Boundary {
    pub segment_start: bool,
    pub force_key: bool,
}

impl BoundaryClock {
    /// `segment` and `gop` in the same units as the timestamps given to [`Self::check`].
    pub fn new(start: i64, segment: i64, gop: i64, keyframes_only: bool) -> Self {
        Self {
            segment,
            gop,
            next_segment: start,
            next_gop: start,
            keyframes_only,
            started: false,
        }
    }

    pub fn check(&mut self, pts: i64, source_key: bool) -> Boundary {
        let mut b = Boundary::default();
        if !self.started {
            if self.keyframes_only && !source_key {
                return b;
            }
            self.started = true;
            b.segment_start = true;
        } else if pts >= self.next_segment && (source_key || !self.keyframes_only) {
            b.segment_start = true;
        }
        if b.segment_start {
            while self.next_segment <= pts {
                self.next_segment += self.segment;
            }
            b.force_key = true;
        }
        if pts >= self.next_gop || b.force_key {
            b.force_key = true;
            while self.next_gop <= pts {
                self.next_gop += self.gop;
            }
        }
        b
    }
}

enum VideoJob {
    Frame {
        frame: Arc<frame::Video>,
        pts: i64,
        boundary: Boundary,
    },
}

/// Everything one session owns.
struct Session;

impl Session {
    fn run(b: &mut Broadcast, source: &mut dyn PacketSource) -> Result<(), PipelineError> {
        let info = source.info();
        let vtb = info.video.time_base;
        let mut vdec = open_decoder(&info.video.parameters, vtb, "video")?
            .video()
            .map_err(|source| PipelineError::Decoder {
                what: "video",
                source,
            })?;
        let video_extradata = source::extradata(&info.video.parameters);
        let src_fps = info
            .video
            .frame_rate
            .filter(|r| r.numerator() > 0)
            .unwrap_or(Rational::new(30, 1));
        let audio_info = info.audio.as_ref().map(|a| {
            (
                source::extradata(&a.parameters),
                a.time_base,
                clone_parameters(&a.parameters),
            )
        });

        // Read until the first decoded frame: it tells the source size and the timeline origin.
        let mut pending: VecDeque<(Track, ff::Packet)> = VecDeque::new();
        let mut keyframe_pts: HashSet<i64> = HashSet::new();
        let mut decoded = frame::Video::empty();
        let mut first: Option<frame::Video> = None;
        while first.is_none() {
            let Some((track, packet)) = source.next_packet()? else {
                break;
            };
            if track == Track::Video {
                if packet.is_key() {
                    if let Some(p) = packet.pts() {
                        keyframe_pts.insert(p);
                    }
                }
                if vdec.send_packet(&packet).is_err() {
                    b.progress.corrupt_packets.fetch_add(1, Ordering::Relaxed);
                }
                if vdec.receive_frame(&mut decoded).is_ok() {
                    first = Some(std::mem::replace(&mut decoded, frame::Video::empty()));
                }
            }
            pending.push_back((track, packet));
        }
        let Some(first) = first else {
            if b.sessions == 0 {
                return Err(PipelineError::NoFrames);
            }
            tracing::warn!("publish session ended before its first decodable frame");
            return Ok(());
        };
        let origin = first.timestamp().or(first.pts()).unwrap_or(0);
        let origin_90k = origin.rescale(vtb, VIDEO_TIME_BASE);
        let base_90k = b.timeline_end_90k;
        let to_90k = move |ts: i64| ts.rescale(vtb, VIDEO_TIME_BASE) - origin_90k + base_90k;

        // The ladder is fixed by the first session; later sessions reuse it.
        if b.ladder.is_none() {
            let plan = ladder::plan(&b.config.profile, first.width(), first.height(), src_fps);
            for (name, why) in &plan.dropped {
                tracing::info!(rendition = %name, reason = %why, "rendition dropped");
            }
            if plan.video.iter().all(|v| v.rendition.passthrough) && plan.video.is_empty() {
                return Err(PipelineError::NothingToEncode {
                    width: first.width(),
                    height: first.height(),
                });
            }
            // Encoder threads by share of the ladder's pixels: the largest
            // rendition paces the whole ladder, so it gets the cores the small
            // ones leave idle (with one thread each, a 1080p encoder alone
            // sets the wall-clock time while the 360p one waits).
            let cores = thread::available_parallelism().map_or(2, |n| n.get());
            let pixels = |v: &ladder::PlannedVideo| u64::from(v.width) * u64::from(v.height);
            let total: u64 = plan
                .video
                .iter()
                .filter(|v| !v.rendition.passthrough)
                .map(pixels)
                .sum::<u64>()
                .max(1);
            let threads_for = |v: &ladder::PlannedVideo| {
                let share = pixels(v) as f64 / total as f64;
                ((cores as f64 * 1.5 * share).ceil() as usize).clamp(1, cores * 2)
            };
            let settings = plan
                .video
                .iter()
                .map(|v| {
                    (!v.rendition.passthrough).then(|| VideoSettings {
                        width: v.width,
                        height: v.height,
                        frame_rate: v.frame_rate,
                        bitrate: v.rendition.bitrate,
                        max_bitrate: v.rendition.max_bitrate.max(v.rendition.bitrate),
                        gop_frames: gop_frames(b.config.profile.gop, v.frame_rate),
                        codec: v.rendition.codec,
                        h264_profile: v.rendition.h264_profile,
                        level: v.rendition.level.clone(),
                        preset: b.config.profile.preset,
                        threads: threads_for(v),
                    })
                })
                .collect();
            b.ladder = Some(Ladder {
                video: plan.video,
                settings,
            });
        }
        let ladder = b.ladder.clone().expect("set just above");
        if ladder.video.is_empty() {
            return Err(PipelineError::NothingToEncode {
                width: first.width(),
                height: first.height(),
            });
        }

        // Open every encoder before anything is written: the init segments need their configuration.
        let mut encoders = Vec::new();
        let mut specs = Vec::new();
        for (v, s) in ladder.video.iter().zip(&ladder.settings) {
            match s {
                Some(s) => {
                    let enc = encoder::open_video(b.config.encoder, s, v.rendition.name.as_str())?;
                    let extradata = encoder_extradata(&enc);
                    let codec = VideoCodecConfig::from_extradata(
                        video_codec(v.rendition.codec),
                        &extradata,
                    )?;
                    specs.push(TrackSpec {
                        name: v.rendition.name.to_string(),
                        media: TrackMedia::Video {
                            width: s.width,
                            height: s.height,
                            frame_rate: Some((
                                s.frame_rate.numerator() as u32,
                                s.frame_rate.denominator() as u32,
                            )),
                            codec,
                        },
                        timescale: 90_000,
                        bandwidth: s.max_bitrate,
                        average_bandwidth: s.bitrate,
                    });
                    encoders.push(Some(enc));
                }
                None => {
                    let codec = VideoCodecConfig::from_extradata(
                        livefleet_packager::VideoCodec::H264,
                        &video_extradata,
                    )
                    .map_err(|e| PipelineError::Rendition {
                        rendition: v.rendition.name.clone(),
                        message: format!(
                            "passthrough needs an H.264 source with its configuration: {e}"
                        ),
                    })?;
                    let bitrate = if v.rendition.bitrate > 0 {
                        v.rendition.bitrate
                    } else {
                        5_000_000
                    };
                    specs.push(TrackSpec {
                        name: v.rendition.name.to_string(),
                        media: TrackMedia::Video {
                            width: first.width(),
                            height: first.height(),
                            frame_rate: Some((
                                src_fps.numerator() as u32,
                                src_fps.denominator() as u32,
                            )),
                            codec,
                        },
                        timescale: 90_000,
                        bandwidth: v.rendition.max_bitrate.max(bitrate),
                        average_bandwidth: bitrate,
                    });
                    encoders.push(None);
                }
            }
        }
        let mut audio = match &audio_info {
            Some((extradata, atb, params)) if !b.config.profile.audio.is_empty() => {
                Some(AudioLadder::open(
                    &b.config.profile.audio,
                    clone_parameters(params),
                    extradata,
                    *atb,
                    origin_90k,
                    base_90k,
                )?)
            }
            _ => None,
        };
        let audio_first_track = specs.len();
        if let Some(a) = &audio {
            specs.extend(a.track_specs()?);
        }

        let send = |msg: PackMsg| {
            b.to_packager
                .send(msg)
                .map_err(|_| PipelineError::ThreadDied("packager".into()))
        };
        if b.sessions == 0 {
            send(PackMsg::Start {
                tracks: specs,
                state: b.resume.take(),
            })?;
            if b.timeline_end_90k > 0 {
                send(PackMsg::Discontinuity(now_unix_ms()))?;
            }
        } else {
            send(PackMsg::Discontinuity(now_unix_ms()))?;
        }

        // Spawn one thread per encoded rendition.
        let errors: Arc<Mutex<Vec<PipelineError>>> = Arc::default();
        let mut workers = Vec::new();
        let mut video_txs = Vec::new();
        let mut passthrough = None;
        let max_end = Arc::new(AtomicU64::new(0));
        for (i, (v, enc)) in ladder.video.iter().zip(encoders).enumerate() {
            match enc {
                Some(enc) => {
                    let (tx, rx) = bounded::<VideoJob>(4);
                    video_txs.push(tx);
                    let out = b.to_packager.clone();
                    let errors = errors.clone();
                    let name = v.rendition.name.clone();
                    let target = ladder.settings[i]
                        .clone()
                        .expect("encoded renditions have settings");
                    let label = b.config.label.clone();
                    let max_end = max_end.clone();
                    workers.push(
                        thread::Builder::new()
                            .name(format!("enc-{name}"))
                            .spawn(move || {
                                let span = tracing::info_span!("rendition", channel = %label, rendition = %name);
                                let _e = span.enter();
                                if let Err(e) = encode_rendition(rx, enc, &target, TrackId(i), &out, &max_end) {
                                    tracing::error!(error = %e, "rendition encoder stopped");
                                    errors.lock().unwrap_or_else(|p| p.into_inner()).push(PipelineError::Rendition {
                                        rendition: name,
                                        message: e,
                                    });
                                }
                            })
                            .map_err(|e| PipelineError::ThreadDied(e.to_string()))?,
                    );
                }
                None => {
                    passthrough = Some(Passthrough::new(
                        TrackId(i),
                        &video_extradata,
                        BoundaryClock::new(
                            base_90k,
                            secs_90k(b.config.profile.segment_duration),
                            secs_90k(b.config.profile.gop),
                            true,
                        ),
                    ));
                }
            }
        }
        let audio_thread = match audio.take() {
            Some(mut a) => {
                let (tx, rx) = bounded::<ff::Packet>(64);
                let out = PackMsgSender(b.to_packager.clone());
                let errors = errors.clone();
                let label = b.config.label.clone();
                let handle = thread::Builder::new()
                    .name("audio".into())
                    .spawn(move || {
                        let span =
                            tracing::info_span!("rendition", channel = %label, rendition = "audio");
                        let _e = span.enter();
                        if let Err(e) = a.run(rx, &out, audio_first_track) {
                            tracing::error!(error = %e, "audio stopped");
                            errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                        }
                    })
                    .map_err(|e| PipelineError::ThreadDied(e.to_string()))?;
                Some((tx, handle))
            }
            None => None,
        };

        // The decode loop proper.
        let mut clock = BoundaryClock::new(
            base_90k,
            secs_90k(b.config.profile.segment_duration),
            secs_90k(b.config.profile.gop),
            passthrough.is_some(),
        );
        let fan_out =
            |f: frame::Video, clock: &mut BoundaryClock, keys: &mut HashSet<i64>| -> bool {
                let ts = f.timestamp().or(f.pts()).unwrap_or(origin);
                let source_key = keys.remove(&ts);
                let pts = to_90k(ts);
                b.progress.frames_decoded.fetch_add(1, Ordering::Relaxed);
                b.progress
                    .media_ms
                    .store(((pts - base_90k).max(0) / 90) as u64, Ordering::Relaxed);
                let boundary = clock.check(pts, source_key);
                let frame = Arc::new(f);
                for tx in &video_txs {
                    if tx
                        .send(VideoJob::Frame {
                            frame: frame.clone(),
                            pts,
                            boundary,
                        })
                        .is_err()
                    {
                        return false;
                    }
                }
                true
            };
        let mut alive = fan_out(first, &mut clock, &mut keyframe_pts);
        let mut read_error = None;
        loop {
            if !alive {
                break;
            }
            let next = match pending.pop_front() {
                Some(p) => Some((p, true)),
                None => match source.next_packet() {
                    Ok(p) => p.map(|p| (p, false)),
                    Err(e) => {
                        read_error = Some(e);
                        None
                    }
                },
            };
            let Some(((track, packet), already_decoded)) = next else {
                break;
            };
            match track {
                Track::Video => {
                    if let Some(p) = passthrough.as_mut() {
                        if let Some(sample) = p.sample(&packet, &to_90k) {
                            alive &= b.to_packager.send(PackMsg::Sample(p.track, sample)).is_ok();
                        }
                    }
                    if already_decoded {
                        continue;
                    }
                    if packet.is_key() {
                        if let Some(p) = packet.pts() {
                            keyframe_pts.insert(p);
                        }
                    }
                    if let Err(e) = vdec.send_packet(&packet) {
                        b.progress.corrupt_packets.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(pts = ?packet.pts(), error = %e, "corrupt video packet skipped");
                        continue;
                    }
                    while vdec.receive_frame(&mut decoded).is_ok() {
                        let f = std::mem::replace(&mut decoded, frame::Video::empty());
                        alive &= fan_out(f, &mut clock, &mut keyframe_pts);
                    }
                }
                Track::Audio => {
                    if let Some((tx, _)) = &audio_thread {
                        alive &= tx.send(packet).is_ok();
                    }
                }
            }
        }
        if vdec.send_eof().is_ok() {
            while vdec.receive_frame(&mut decoded).is_ok() {
                let f = std::mem::replace(&mut decoded, frame::Video::empty());
                fan_out(f, &mut clock, &mut keyframe_pts);
            }
        }
        drop(video_txs);
        let mut end_90k = 0;
        if let Some((tx, handle)) = audio_thread {
            drop(tx);
            let _ = handle.join();
        }
        for w in workers {
            if w.join().is_err() {
                errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(PipelineError::ThreadDied("encoder".into()));
            }
        }
        if let Some(p) = &passthrough {
            end_90k = end_90k.max(p.end_90k);
        }
        end_90k = end_90k.max(max_end.load(Ordering::Relaxed) as i64);
        b.timeline_end_90k = b.timeline_end_90k.max(end_90k);
        if let Some(e) = read_error {
            return Err(e);
        }
        let mut errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));
        if !errors.is_empty() {
            return Err(errors.remove(0));
        }
        Ok(())
    }
}

fn encode_rendition(
    rx: Receiver<VideoJob>,
    mut enc: ff::encoder::Video,
    target: &VideoSettings,
    track: TrackId,
    out: &Sender<PackMsg>,
    max_end: &AtomicU64,
) -> Result<(), String> {
    let mut scaler: Option<(scaling::Context, (format::Pixel, u32, u32))> = None;
    let mut starts: VecDeque<i64> = VecDeque::new();
    let mut shift: Option<i64> = None;
    let frame_90k = 90_000 * i64::from(target.frame_rate.denominator())
        / i64::from(target.frame_rate.numerator().max(1));
    let mut next_keep = i64::MIN;
    let mut last_pts = i64::MIN;
    let mut packet = ff::Packet::empty();
    let mut drain = |enc: &mut ff::encoder::Video,
                     starts: &mut VecDeque<i64>,
                     shift: &mut Option<i64>|
     -> Result<(), String> {
        while enc.receive_packet(&mut packet).is_ok() {
            let (Some(pts), Some(dts)) = (packet.pts(), packet.dts()) else {
                continue;
            };
            let shift = *shift.get_or_insert((pts - dts).max(0));
            let key = packet.is_key();
            let mut segment_start = false;
            if key {
                while starts.front().is_some_and(|s| *s < pts) {
                    starts.pop_front();
                }
                if starts.front() == Some(&pts) {
                    starts.pop_front();
                    segment_start = true;
                }
            }
            let data = annexb::to_length_prefixed(packet.data().unwrap_or_default());
            max_end.fetch_max((pts + frame_90k).max(0) as u64, Ordering::Relaxed);
            let sample = Sample {
                dts: dts + shift,
                pts,
                duration: None,
                keyframe: key,
                segment_start,
                data: Bytes::from(data),
            };
            out.send(PackMsg::Sample(track, sample))
                .map_err(|_| "packager is gone".to_string())?;
        }
        Ok(())
    };
    while let Ok(VideoJob::Frame {
        frame: src,
        pts,
        boundary,
    }) = rx.recv()
    {
        // Frame-rate reduction: keep a frame per output interval; forced keyframes are always kept.
        if !boundary.force_key && pts < next_keep {
            continue;
        }
        if pts <= last_pts {
            continue;
        }
        last_pts = pts;
        next_keep = if next_keep == i64::MIN || boundary.force_key {
            pts + frame_90k
        } else {
            next_keep + frame_90k
        };
        if next_keep <= pts {
            next_keep = pts + frame_90k;
        }
        let mut f = if src.width() == target.width
            && src.height() == target.height
            && src.format() == format::Pixel::YUV420P
        {
            share_frame(&src)
        } else {
            let key = (src.format(), src.width(), src.height());
            if scaler.as_ref().is_none_or(|(_, k)| *k != key) {
                let ctx = scaling::Context::get(
                    src.format(),
                    src.width(),
                    src.height(),
                    format::Pixel::YUV420P,
                    target.width,
                    target.height,
                    scaling::Flags::BICUBIC,
                )
                .map_err(|e| {
                    format!(
                        "cannot scale {}x{} to {}x{}: {e}",
                        src.width(),
                        src.height(),
                        target.width,
                        target.height
                    )
                })?;
                scaler = Some((ctx, key));
            }
            let (ctx, _) = scaler.as_mut().expect("set above");
            let mut scaled = frame::Video::empty();
            ctx.run(&src, &mut scaled)
                .map_err(|e| format!("scaling failed: {e}"))?;
            scaled
        };
        f.set_pts(Some(pts));
        if boundary.force_key {
            f.set_kind(ff::picture::Type::I);
        } else {
            f.set_kind(ff::picture::Type::None);
        }
        if boundary.segment_start {
            starts.push_back(pts);
        }
        enc.send_frame(&f)
            .map_err(|e| format!("encoder refused a frame at {pts}: {e}"))?;
        drain(&mut enc, &mut starts, &mut shift)?;
    }
    enc.send_eof()
        .map_err(|e| format!("encoder flush failed: {e}"))?;
    drain(&mut enc, &mut starts, &mut shift)?;
    Ok(())
}

/// A new frame referencing the same buffers (no pixel copy).
fn share_frame(src: &frame::Video) -> frame::Video {
    let mut f = frame::Video::empty();
    // SAFETY: av_frame_ref adds references to src's refcounted buffers; both frames are valid.
    unsafe {
        ff::ffi::av_frame_ref(f.as_mut_ptr(), src.as_ptr());
    }
    f
}

/// The copied source rendition: packets to samples, boundaries on source keyframes.
struct Passthrough {
    track: TrackId,
    /// Length size of the source's AVCC NAL units; None = Annex B source.
    length_size: Option<usize>,
    clock: BoundaryClock,
    shift: Option<i64>,
    started: bool,
    end_90k: i64,
}

impl Passthrough {
    fn new(track: TrackId, extradata: &[u8], clock: BoundaryClock) -> Self {
        let length_size =
            (extradata.len() > 4 && extradata[0] == 1).then(|| usize::from(extradata[4] & 3) + 1);
        Self {
            track,
            length_size,
            clock,
            shift: None,
            started: false,
            end_90k: 0,
        }
    }

    fn sample(&mut self, packet: &ff::Packet, to_90k: &dyn Fn(i64) -> i64) -> Option<Sample> {
        let (pts, dts) = (packet.pts()?, packet.dts().or(packet.pts())?);
        let key = packet.is_key();
        if !self.started && !key {
            return None;
        }
        self.started = true;
        let (pts, dts) = (to_90k(pts), to_90k(dts));
        let shift = *self.shift.get_or_insert((pts - dts).max(0));
        let boundary = if key {
            self.clock.check(pts, true)
        } else {
            Boundary::default()
        };
        let raw = packet.data().unwrap_or_default();
        let data = match self.length_size {
            Some(4) => raw.to_vec(),
            Some(n) => relength(raw, n),
            None => annexb::to_length_prefixed(raw),
        };
        self.end_90k = self.end_90k.max(pts + packet.duration().max(0));
        Some(Sample {
            dts: dts + shift,
            pts,
            duration: None,
            keyframe: key,
            segment_start: boundary.segment_start,
            data: Bytes::from(data),
        })
    }
}

/// Rewrites NAL units with `n`-byte lengths to 4-byte lengths; stops at the first lie.
fn relength(raw: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut i = 0;
    while i + n <= raw.len() {
        let len = raw[i..i + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        i += n;
        if i + len > raw.len() {
            break;
        }
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&raw[i..i + len]);
        i += len;
    }
    out
}

fn open_decoder(
    params: &codec::Parameters,
    tb: Rational,
    what: &'static str,
) -> Result<decoder::Decoder, PipelineError> {
    let mut ctx = codec::context::Context::from_parameters(clone_parameters(params))
        .map_err(|source| PipelineError::Decoder { what, source })?;
    // SAFETY: setting the packet time base on an unopened context we own.
    unsafe {
        (*ctx.as_mut_ptr()).pkt_timebase = tb.into();
    }
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: 2,
        ..Default::default()
    });
    Ok(ctx.decoder())
}

fn clone_parameters(p: &codec::Parameters) -> codec::Parameters {
    let mut out = codec::Parameters::new();
    // SAFETY: both pointers are valid parameter sets; avcodec_parameters_copy deep-copies.
    unsafe {
        ff::ffi::avcodec_parameters_copy(out.as_mut_ptr(), p.as_ptr());
    }
    out
}

fn encoder_extradata(enc: &ff::encoder::Video) -> Vec<u8> {
    // SAFETY: reading the opened encoder's extradata of its stated size.
    unsafe {
        let ctx = enc.as_ptr();
        if (*ctx).extradata.is_null() || (*ctx).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec()
    }
}

fn video_codec(c: VideoCodec) -> livefleet_packager::VideoCodec {
    match c {
        VideoCodec::H264 => livefleet_packager::VideoCodec::H264,
        VideoCodec::Hevc => livefleet_packager::VideoCodec::Hevc,
    }
}

fn gop_frames(gop_seconds: f64, fps: Rational) -> u32 {
    (gop_seconds * f64::from(fps)).round().max(1.0) as u32
}

fn secs_90k(s: f64) -> i64 {
    (s * 90_000.0).round() as i64
}

/// Wall clock now, in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// AAC configuration of the packager's audio tracks, re-exported for the audio module.
pub(crate) fn audio_config(asc: &[u8]) -> Result<AudioConfig, PipelineError> {
    Ok(AudioConfig::new(Bytes::copy_from_slice(asc))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_on_the_grid() {
        let mut c = BoundaryClock::new(0, 180_000, 90_000, false);
        let f = 3000; // 30 fps
        let marks: Vec<(i64, Boundary)> =
            (0..200).map(|i| (i * f, c.check(i * f, false))).collect();
        let seg: Vec<i64> = marks
            .iter()
            .filter(|(_, b)| b.segment_start)
            .map(|(t, _)| *t)
            .collect();
        let key: Vec<i64> = marks
            .iter()
            .filter(|(_, b)| b.force_key)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(seg, vec![0, 180_000, 360_000, 540_000]);
        assert_eq!(
            key,
            vec![0, 90_000, 180_000, 270_000, 360_000, 450_000, 540_000]
        );
    }

    #[test]
    fn passthrough_boundaries_wait_for_source_keyframes() {
        let mut c = BoundaryClock::new(0, 180_000, 90_000, true);
        assert!(
            !c.check(0, false).segment_start,
            "no start before the first source keyframe"
        );
        assert!(c.check(3000, true).segment_start);
        assert!(!c.check(183_000, false).segment_start);
        assert!(c.check(186_000, true).segment_start);
    }

    #[test]
    fn relength_rewrites_and_stops_at_lies() {
        assert_eq!(
            relength(&[0, 2, 0xAA, 0xBB, 0, 1, 0xCC], 2),
            vec![0, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 1, 0xCC]
        );
        assert_eq!(relength(&[0, 9, 0xAA], 2), Vec::<u8>::new());
    }
}
