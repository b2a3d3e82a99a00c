//! One publish session through the stages:
//!
//! ```text
//! source -> decode (+ boundary clock) -+-> rendition (scale + encode), one thread each --+
//!                                      +-> passthrough (copy, on this thread) -----------+-> package
//!        -> audio (decode, resample, encode | copy; silence where there is none) -------+
//! ```
//!
//! The calling thread reads packets, decodes video once, decides segment
//! boundaries once for every rendition, copies the passthrough rendition and
//! fans frames out. Queues between stages are bounded, so a slow encoder
//! slows the reader rather than growing memory.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ff::{frame, Rational, Rescale};
use ffmpeg_next as ff;
use livefleet_base::Track;
use livefleet_packager::{TrackId, TrackSpec};
use livefleet_profile::LadderProfile;

use crate::audio::{AudioLadder, AudioMsg};
use crate::boundary::BoundaryClock;
use crate::captions::{CaptionNotice, CaptionWatch};
use crate::codec_params;
use crate::colour::Colour;
use crate::decode::{Refused, VideoDecode};
use crate::encoder::{VideoSettings, VIDEO_TIME_BASE};
use crate::hold::{audio_lead, Hold};
use crate::hw::CudaDevice;
use crate::ladder::Ladder;
use crate::metrics::DropReason;
use crate::pack::PackSender;
use crate::passthrough::{stored_picture, Passthrough};
use crate::prime::{prime, Primed};
use crate::progress::Progress;
use crate::rendition::{Picture, RenditionEncoder};
use crate::source::{PacketSource, StreamInfo};
use crate::stages::Stages;
use crate::timeline::{FrameTimes, Timeline};
use crate::video_path::VideoPath;
use crate::PipelineError;

/// Frame rate assumed when the source declares none.
const DEFAULT_FPS: Rational = Rational(30, 1);

/// What a session needs of the broadcast it belongs to (the broadcast
/// implements it; a session never sees the broadcast itself).
pub(crate) trait SessionHost {
    /// Channel or input name, for logs and thread names.
    fn label(&self) -> &str;
    fn profile(&self) -> &LadderProfile;
    /// The video path of a session whose source has `codec` (the broadcast
    /// decides, and logs why when it changes), with the CUDA device a GPU
    /// path runs on.
    fn video_path(&mut self, stream: &StreamInfo) -> Result<PathChoice, PipelineError>;
    fn progress(&self) -> &Progress;
    fn pack(&self) -> &PackSender;
    /// Whether this is the broadcast's first session.
    fn first_session(&self) -> bool;
    /// Where this session starts on the broadcast's timeline (90 kHz).
    fn timeline_end_90k(&self) -> i64;
    /// The session reached `end_90k` on the timeline.
    fn extend_timeline(&mut self, end_90k: i64);
    /// The renditions for a source of this size and rate.
    fn ladder_for(
        &mut self,
        width: u32,
        height: u32,
        fps: Rational,
    ) -> Result<Ladder, PipelineError>;
    /// The session's packager tracks (the broadcast decides: start, discontinuity or new init segments).
    fn announce(&mut self, tracks: Vec<TrackSpec>) -> Result<(), PipelineError>;
}

/// A session's video path and, on a GPU path, its device.
pub(crate) struct PathChoice {
    pub path: VideoPath,
    pub device: Option<Arc<CudaDevice>>,
}

pub(crate) fn run(
    b: &mut dyn SessionHost,
    source: &mut dyn PacketSource,
) -> Result<(), PipelineError> {
    let info = source.info();
    let vtb = info.video.time_base;
    let PathChoice { path, device } = b.video_path(&info.video)?;
    let turn = info.video.rotation.turn();
    let mut decode =
        VideoDecode::open(&info.video, device.as_deref().filter(|_| path.gpu_decode()))?;
    let video_extradata = codec_params::extradata(&info.video.parameters);
    let video_codec = info.video.parameters.id();
    let src_fps = info
        .video
        .frame_rate
        .filter(|r| r.numerator() > 0)
        .unwrap_or(DEFAULT_FPS);
    let audio_tb = info.audio.as_ref().map(|a| a.time_base);
    let Some(Primed {
        first,
        mut pending,
        ended,
    }) = prime(source, &mut decode, b.progress())?
    else {
        if b.first_session() {
            return Err(PipelineError::NoFrames);
        }
        tracing::warn!("publish session ended before its first decodable frame");
        return Ok(());
    };
    let origin = first.timestamp().or(first.pts()).unwrap_or(0);
    let (width, height) = (first.width(), first.height());
    // Planned on the picture as shown: non-square pixels are widened (or
    // narrowed) to square ones by the renditions' scalers.
    let (shown_w, shown_h) = crate::ladder::shown_size(width, height, first.aspect_ratio());
    let ladder = b.ladder_for(shown_w, shown_h, src_fps)?;
    // Held pictures (the audio going on without video) at a frame of the
    // fastest rendition; none with a passthrough rendition, which cannot repeat one.
    let hold_step = ladder
        .fastest_encoded_rate()
        .filter(|_| ladder.settings.iter().all(Option::is_some))
        .filter(|_| !b.profile().audio.is_empty())
        .map(|r| 1i64.rescale(r.invert(), VIDEO_TIME_BASE));
    // Audio read before the first picture starts the timeline (`crate::hold`).
    let lead = hold_step.and(audio_tb).and_then(|atb| {
        let audio = pending.iter().filter(|(t, _)| *t == Track::Audio);
        audio_lead(audio.filter_map(|(_, p)| p.pts()), atb, origin, vtb)
    });
    let timeline = Timeline::new(lead.unwrap_or(origin), vtb, b.timeline_end_90k());
    let colour = Colour::of_picture(&first);
    tracing::debug!(?colour, "the renditions' colour description");

    // Open every encoder before anything is written: the init segments need their configuration.
    let mut encoders = Vec::new();
    let mut specs = Vec::new();
    let mut passthrough = None;
    for (i, (v, s)) in ladder.video.iter().zip(&ladder.settings).enumerate() {
        match s {
            Some(s) => {
                let (mut enc, spec) = RenditionEncoder::open(
                    path,
                    device.as_deref(),
                    &VideoSettings {
                        colour,
                        ..s.clone()
                    },
                    &v.rendition.name,
                    TrackId(i),
                )?;
                if let Some(m) = &b.progress().meter {
                    enc.meter(m);
                }
                enc.fed_at(src_fps);
                specs.push(spec);
                encoders.push(enc);
            }
            None => {
                // The copy is the stream as stored: it keeps the shape of its
                // samples and, recorded on its side, its turn as a display
                // matrix, so players show it as the encoded renditions.
                let (copy, spec) = Passthrough::open(
                    v,
                    TrackId(i),
                    (video_codec, &video_extradata),
                    stored_picture(&first, turn, decode.source_range()),
                    turn,
                    src_fps,
                )?;
                specs.push(spec);
                passthrough = Some(copy);
            }
        }
    }
    let audio = if b.profile().audio.is_empty() {
        None
    } else {
        Some(AudioLadder::open(
            &b.profile().audio,
            source.info().audio.as_ref(),
            timeline,
        )?)
    };
    let audio_first_track = specs.len();
    if let Some(a) = &audio {
        specs.extend(a.track_specs()?);
    }
    b.announce(specs)?;

    // A ladder that only copies the source decodes keyframes alone, for the
    // preview picture: nothing else needs a picture (`docs/design/thumbnails.md`).
    let copy_only = encoders.is_empty();
    let mut copied_to = i64::MIN;

    let meter = b.progress().meter.clone();
    let mut stages = Stages::new();
    for enc in encoders {
        let depth = meter.as_ref().map(|m| m.queue(enc.name().as_str()));
        stages.spawn_rendition(b.label(), enc, b.pack().clone(), depth)?;
    }
    if let Some(a) = audio {
        let depth = meter.as_ref().map(|m| m.queue("audio"));
        stages.spawn_audio(b.label(), a, b.pack().clone(), audio_first_track, depth)?;
    }
    stages.spawn_thumbnails(b.label(), b.pack().clone())?;
    let decoded = meter.as_ref().map(|m| m.frame_decoded());
    let copied = meter.as_ref().map(|m| m.frame_copied());
    let corrupt = || {
        b.progress().corrupt_packets.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &meter {
            m.dropped(DropReason::Corrupt);
        }
    };

    let (segment, gop) = (b.profile().segment_duration, b.profile().gop);
    let grid = ladder.boundary_grid(segment, gop, src_fps);
    let mut clock = BoundaryClock::new(
        timeline.base_90k,
        grid.segment,
        grid.gop,
        passthrough.is_some(),
    )
    .early_by(grid.early)
    .on_slots_of(grid.slowest);
    let keyframe_at = |clock: &mut BoundaryClock, packet: &ff::Packet| -> bool {
        match packet.pts() {
            Some(p) if packet.is_key() && clock.keyframes_only() => {
                clock.source_keyframe(timeline.to_90k(p, vtb))
            }
            _ => false,
        }
    };
    // The keyframes read before the first frame came out are decided before it.
    for (track, packet) in &pending {
        if *track == Track::Video {
            keyframe_at(&mut clock, packet);
        }
    }
    let mut captions = CaptionWatch::new(!b.profile().captions.is_empty());
    let mut times = FrameTimes::new(origin, src_fps, vtb);
    let mut hold = Hold::new(hold_step).lead_from(lead.map(|_| timeline.base_90k));
    let held_pictures = |due: Vec<i64>, clock: &mut BoundaryClock, stages: &Stages| -> bool {
        let mut alive = true;
        for pts in due {
            b.progress().held(pts);
            alive &= stages.picture(Picture::Held, pts, clock.frame(pts));
        }
        alive
    };
    let mut fan_out = |f: frame::Video,
                       clock: &mut BoundaryClock,
                       hold: &mut Hold,
                       stages: &Stages|
     -> bool {
        let ts = times.of(f.timestamp().or(f.pts()));
        let Some(pts) = hold.picture(timeline.to_90k(ts, vtb)) else {
            // Late: the held picture already covers its time.
            if let Some(m) = &meter {
                m.dropped(DropReason::OutOfOrder);
            }
            return true;
        };
        match captions.frame(&f, pts) {
            Some(CaptionNotice::Undeclared) => tracing::info!(
                "the source carries closed captions the profile does not declare: every rendition keeps them, but players offer only declared ones (add `captions:` to the profile)"
            ),
            Some(CaptionNotice::Missing) => tracing::warn!(
                "the profile declares closed captions, but the source has carried none for 10 s: players will offer an empty caption track"
            ),
            None => {}
        }
        b.progress().frames_decoded.fetch_add(1, Ordering::Relaxed);
        if let Some(d) = &decoded {
            d.inc();
        }
        if !copy_only {
            b.progress().reach(pts);
        }
        let boundary = clock.frame(pts);
        stages.picture(Picture::Decoded(Arc::new(f)), pts, boundary)
    };

    let mut alive = fan_out(first, &mut clock, &mut hold, &stages);
    alive &= held_pictures(hold.lead_due(), &mut clock, &stages);
    let mut read_error = None;
    let mut gpu_error = None;
    while alive {
        let next = match pending.pop_front() {
            Some(p) => Some((p, true)),
            None if ended => None,
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
                hold.video_packet();
                let segment_start = keyframe_at(&mut clock, &packet);
                if let Some(p) = passthrough.as_mut() {
                    if let Some(sample) = p.sample(&packet, &timeline, vtb, segment_start) {
                        b.progress().frames_copied.fetch_add(1, Ordering::Relaxed);
                        if let Some(c) = &copied {
                            c.inc();
                        }
                        if copy_only && sample.pts > copied_to {
                            copied_to = sample.pts;
                            b.progress().reach(copied_to);
                            alive &= stages.video_reached(copied_to);
                        }
                        alive &= b.pack().sample(p.track, sample).is_ok();
                    }
                }
                if already_decoded || (copy_only && !packet.is_key()) {
                    continue;
                }
                if crate::failpoint::fails("gpu-decode") {
                    let failed = crate::hw::GpuError::NotOnGpu("failpoint gpu-decode");
                    gpu_error = Some(PipelineError::nvdec_failed(failed));
                    break;
                }
                match decode.push(&packet) {
                    Ok(()) => {}
                    Err(Refused::Corrupt(e)) => {
                        corrupt();
                        tracing::warn!(pts = ?packet.pts(), error = %e, "corrupt video packet skipped");
                        continue;
                    }
                    Err(Refused::Gpu(message)) => {
                        gpu_error = Some(PipelineError::nvdec_failed(message));
                        break;
                    }
                }
                loop {
                    match decode.pull() {
                        Ok(Some(f)) => alive &= fan_out(f, &mut clock, &mut hold, &stages),
                        Ok(None) => break,
                        Err(e) => {
                            read_error = Some(e);
                            alive = false;
                            break;
                        }
                    }
                }
            }
            Track::Audio => {
                if let (Some(tx), Some(atb)) = (&stages.audio, audio_tb) {
                    if let Some(pts) = packet.pts() {
                        let start = timeline.to_90k(pts, atb);
                        let duration = packet.duration().max(0);
                        hold.audio(start, start + duration.rescale(atb, VIDEO_TIME_BASE));
                    }
                    alive &= tx.send(AudioMsg::Packet(packet)).is_ok();
                    if source.live() {
                        alive &= held_pictures(hold.live_due(), &mut clock, &stages);
                    }
                }
            }
        }
    }
    decode.finish();
    loop {
        match decode.pull() {
            Ok(Some(f)) => {
                fan_out(f, &mut clock, &mut hold, &stages);
            }
            Ok(None) => break,
            Err(e) => {
                read_error = read_error.or(Some(e));
                break;
            }
        }
    }
    held_pictures(hold.end_due(), &mut clock, &stages);
    let max_end = stages.max_end.clone();
    let joined = stages.join();
    let mut end_90k = max_end.load(Ordering::Relaxed) as i64;
    if let Some(p) = &passthrough {
        end_90k = end_90k.max(p.end_90k);
    }
    b.extend_timeline(end_90k);
    if let Some(e) = read_error.or(gpu_error) {
        return Err(e);
    }
    joined
}
