//! The audio stage: decoded once, then resampled and AAC-encoded per audio
//! rendition, or copied when the source already is what the rendition asks for.
//!
//! Audio samples are stamped by count from the first decoded sample, on the
//! same timeline as video (the session's origin is the first video frame,
//! or the audio's start where that leads it by more than half a second:
//! `crate::hold`): audio before the origin is trimmed. Every audio
//! rendition covers the whole video timeline: a session without audio, and
//! the start of a session whose audio begins late, are filled with silence,
//! paced by the video ([`AudioMsg::VideoAt`]), so players never stall on an
//! audio track that has no segment; a copied rendition's silence is a
//! repeated AAC frame (`copy.rs`). The AAC encoder's priming delay is not
//! signalled (no edit list), which shifts audio by 1024 samples (about
//! 21 ms at 48 kHz), less than one video frame.

use bytes::Bytes;
use crossbeam_channel::Receiver;
use ff::{codec, decoder, format, frame, software::resampling, Rational, Rescale};
use ffmpeg_next as ff;
use livefleet_packager::{AudioConfig, TrackId, TrackMedia, TrackSpec};
use livefleet_profile::AudioRendition;

mod copy;
mod encode;

use self::copy::CopyTrack;
use crate::aac::{aac_extradata, asc_format, open_audio_decoder};
use crate::encoder::{self, VIDEO_TIME_BASE};
use crate::pack::PackSender;
use crate::source::StreamInfo;
use crate::timeline::Timeline;
use crate::PipelineError;

/// How far silence trails the video while no audio has come: audio packets
/// arrive interleaved with video, a little behind it.
const SILENCE_LAG_90K: i64 = 90_000;

/// What the audio stage is told.
pub enum AudioMsg {
    Packet(ff::Packet),
    /// The video reached this point of the timeline (90 kHz).
    VideoAt(i64),
}

enum Output {
    Encode {
        enc: ff::encoder::Audio,
        resampler: Option<(resampling::Context, (format::Sample, u64, u32))>,
        /// Planar samples waiting to fill a 1024-sample AAC frame.
        fifo: Vec<Vec<f32>>,
        /// Timestamp (in samples) of the first sample in `fifo`.
        next_pts: Option<i64>,
        /// Samples still to drop from the front (audio before the video origin).
        trim: usize,
        /// Only silence so far: the first real audio is placed by its timestamp.
        silent: bool,
    },
    Copy(CopyTrack),
}

struct AudioTrack {
    rendition: AudioRendition,
    sample_rate: u32,
    asc: Vec<u8>,
    out: Output,
}

/// Every audio rendition of a session, fed from one decoder (or from silence).
pub struct AudioLadder {
    tracks: Vec<AudioTrack>,
    decoder: Option<decoder::Audio>,
    time_base: Rational,
    timeline: Timeline,
    /// Furthest video point heard of (90 kHz).
    video_at: i64,
    /// Where the audio handed to the packager ends (90 kHz): AAC frames
    /// and the encoder's last, padded one run past the video's end, and
    /// the next session starts after them.
    end_90k: i64,
}

impl AudioLadder {
    /// The audio renditions of a session; `source` is `None` when the session has no audio.
    pub fn open(
        renditions: &[AudioRendition],
        source: Option<&StreamInfo>,
        timeline: Timeline,
    ) -> Result<Self, PipelineError> {
        let extradata = source
            .map(|s| crate::codec_params::extradata(&s.parameters))
            .unwrap_or_default();
        let source_format = source
            .filter(|s| s.parameters.id() == codec::Id::AAC)
            .and_then(|_| asc_format(&extradata));
        let mut tracks = Vec::new();
        for r in renditions {
            let copy = r.passthrough && source_format == Some((r.sample_rate, r.channels));
            if r.passthrough && !copy && source.is_some() {
                tracing::info!(
                    rendition = %r.name,
                    source = ?source_format,
                    "audio passthrough asked for, but the source is not AAC at {} Hz / {} channels; encoding instead",
                    r.sample_rate,
                    r.channels
                );
            }
            if copy {
                tracks.push(AudioTrack {
                    rendition: r.clone(),
                    sample_rate: r.sample_rate,
                    asc: extradata.clone(),
                    out: Output::Copy(CopyTrack::open(r, &extradata)),
                });
                continue;
            }
            let enc = encoder::open_aac(r.sample_rate, r.channels, r.bitrate, r.name.as_str())?;
            tracks.push(AudioTrack {
                rendition: r.clone(),
                sample_rate: r.sample_rate,
                asc: aac_extradata(&enc),
                out: Output::Encode {
                    enc,
                    resampler: None,
                    fifo: vec![Vec::new(); usize::from(r.channels)],
                    next_pts: None,
                    trim: 0,
                    silent: true,
                },
            });
        }
        let need_decoder = tracks
            .iter()
            .any(|t| matches!(t.out, Output::Encode { .. }));
        let decoder = match source {
            Some(s) if need_decoder => Some(open_audio_decoder(s)?),
            _ => None,
        };
        if source.is_none() && !tracks.is_empty() {
            tracing::info!("the source has no audio: the audio renditions carry silence");
        }
        Ok(Self {
            tracks,
            decoder,
            time_base: source.map_or(Rational::new(1, 1000), |s| s.time_base),
            timeline,
            video_at: timeline.base_90k,
            end_90k: timeline.base_90k,
        })
    }

    /// Where the audio handed to the packager ends on the timeline (90 kHz).
    pub fn end_90k(&self) -> i64 {
        self.end_90k
    }

    /// Audio up to `end` samples at `rate` was handed to the packager.
    fn reached(&mut self, end: Option<i64>, rate: u32) {
        if let Some(end) = end {
            let end_90k = end.rescale_with(
                Rational::new(1, rate as i32),
                VIDEO_TIME_BASE,
                ff::Rounding::Up,
            );
            self.end_90k = self.end_90k.max(end_90k);
        }
    }

    /// Packager track descriptions, in rendition order.
    pub fn track_specs(&self) -> Result<Vec<TrackSpec>, PipelineError> {
        self.tracks
            .iter()
            .map(|t| {
                Ok(TrackSpec {
                    name: t.rendition.name.to_string(),
                    media: TrackMedia::Audio {
                        codec: AudioConfig::new(Bytes::copy_from_slice(&t.asc))?,
                    },
                    timescale: t.sample_rate,
                    bandwidth: t.rendition.bitrate,
                    average_bandwidth: t.rendition.bitrate,
                })
            })
            .collect()
    }

    /// Runs until `rx` closes; audio tracks are `first_track`, `first_track + 1`, ...
    pub(crate) fn run(
        &mut self,
        rx: Receiver<AudioMsg>,
        out: &PackSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        let mut decoded = frame::Audio::empty();
        while let Ok(msg) = rx.recv() {
            let packet = match msg {
                AudioMsg::Packet(p) => p,
                AudioMsg::VideoAt(t) => {
                    self.video_at = self.video_at.max(t);
                    self.fill_silence(t - SILENCE_LAG_90K, out, first_track, true)?;
                    continue;
                }
            };
            self.copy_packet(&packet, out, first_track)?;
            let Some(dec) = self.decoder.as_mut() else {
                continue;
            };
            if let Err(e) = dec.send_packet(&packet) {
                tracing::warn!(pts = ?packet.pts(), error = %e, "corrupt audio packet skipped");
                continue;
            }
            while self.receive(&mut decoded) {
                let mut f = std::mem::replace(&mut decoded, frame::Audio::empty());
                self.encode_frame(&mut f, out, first_track)?;
            }
        }
        if let Some(dec) = self.decoder.as_mut() {
            let _ = dec.send_eof();
            while self.receive(&mut decoded) {
                let mut f = std::mem::replace(&mut decoded, frame::Audio::empty());
                self.encode_frame(&mut f, out, first_track)?;
            }
        }
        // Every encoded track reaches the video's last frame: a session
        // that never had audio is silent to its end, and one whose audio
        // stopped first (a file whose audio is shorter, an input cut by
        // Ctrl-C between the two tracks' packets) ends in silence. Before,
        // the audio track lacked the last segments, and players stalled
        // where it ran out.
        for i in 0..self.tracks.len() {
            self.drain_resampler(i)?;
        }
        self.fill_silence(self.video_at, out, first_track, false)?;
        for i in 0..self.tracks.len() {
            self.finish_track(i, out, first_track)?;
        }
        Ok(())
    }

    fn receive(&mut self, decoded: &mut frame::Audio) -> bool {
        self.decoder
            .as_mut()
            .is_some_and(|d| d.receive_frame(decoded).is_ok())
    }

    fn copy_packet(
        &mut self,
        packet: &ff::Packet,
        out: &PackSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        let Some(pts) = packet.pts() else {
            return Ok(());
        };
        let data = Bytes::copy_from_slice(packet.data().unwrap_or_default());
        for i in 0..self.tracks.len() {
            let rate = self.tracks[i].sample_rate;
            let Output::Copy(copy) = &mut self.tracks[i].out else {
                continue;
            };
            let at = self.timeline.to_samples(pts, self.time_base, rate);
            let duration = packet
                .duration()
                .rescale(self.time_base, Rational::new(1, rate as i32));
            let base = self.timeline.base_samples(rate);
            for sample in copy.packet(at, duration, data.clone(), base) {
                out.sample(TrackId(first_track + i), sample)?;
            }
            let end = copy.end();
            self.reached(end, rate);
        }
        Ok(())
    }

    /// Silence up to `until_90k` in every encoded track (only in those that
    /// have had no audio yet, when `only_silent`).
    fn fill_silence(
        &mut self,
        until_90k: i64,
        out: &PackSender,
        first_track: usize,
        only_silent: bool,
    ) -> Result<(), PipelineError> {
        for i in 0..self.tracks.len() {
            let rate = self.tracks[i].sample_rate;
            let base = self.timeline.base_samples(rate);
            let until = until_90k.rescale(VIDEO_TIME_BASE, Rational::new(1, rate as i32));
            let (fifo, next_pts, silent) = match &mut self.tracks[i].out {
                Output::Encode {
                    fifo,
                    next_pts,
                    silent,
                    ..
                } => (fifo, next_pts, silent),
                Output::Copy(copy) => {
                    if !(only_silent && copy.heard()) {
                        for sample in copy.silence_to(until, base) {
                            out.sample(TrackId(first_track + i), sample)?;
                        }
                        let end = copy.end();
                        self.reached(end, rate);
                    }
                    continue;
                }
            };
            if only_silent && !*silent {
                continue;
            }
            let at = next_pts
                .get_or_insert(base)
                .saturating_add(fifo[0].len() as i64);
            if until > at {
                let n = (until - at) as usize;
                for buf in fifo.iter_mut() {
                    buf.resize(buf.len() + n, 0.0);
                }
                self.drain_fifo(i, out, first_track, false)?;
            }
        }
        Ok(())
    }
}
