//! Audio: decoded once, then resampled and AAC-encoded per audio rendition,
//! or copied when the source already is what the rendition asks for.
//!
//! Audio samples are stamped by count from the first decoded sample, on the
//! same timeline as video (the session's origin is the first video frame):
//! audio that starts before the first video frame is trimmed, audio that starts
//! later starts later. The AAC encoder's priming delay is not signalled (no
//! edit list), which shifts audio by 1024 samples (about 21 ms at 48 kHz),
//! less than one video frame.

use crossbeam_channel::Receiver;
use ff::{codec, decoder, format, frame, software::resampling, ChannelLayout, Rational, Rescale};
use ffmpeg_next as ff;
use livefleet_packager::{Sample, TrackId, TrackMedia, TrackSpec};
use livefleet_profile::AudioRendition;

use crate::encoder::{self, VIDEO_TIME_BASE};
use crate::pipeline::{audio_config, PackMsgSender};
use crate::PipelineError;

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
    },
    Copy,
}

struct AudioTrack {
    rendition: AudioRendition,
    sample_rate: u32,
    asc: Vec<u8>,
    out: Output,
}

/// Every audio rendition of a session, fed from one decoder.
pub struct AudioLadder {
    tracks: Vec<AudioTrack>,
    decoder: Option<decoder::Audio>,
    time_base: Rational,
    origin_90k: i64,
    base_90k: i64,
}

/// Sample rate and channel count from an AudioSpecificConfig, when it is one.
fn asc_format(asc: &[u8]) -> Option<(u32, u8)> {
    livefleet_packager::AudioConfig::new(bytes::Bytes::copy_from_slice(asc))
        .ok()
        .map(|c| (c.sample_rate(), c.channels()))
}

impl AudioLadder {
    pub fn open(
        renditions: &[AudioRendition],
        params: codec::Parameters,
        extradata: &[u8],
        time_base: Rational,
        origin_90k: i64,
        base_90k: i64,
    ) -> Result<Self, PipelineError> {
        let source_is_aac = params.id() == codec::Id::AAC;
        let source_format = if source_is_aac {
            asc_format(extradata)
        } else {
            None
        };
        let mut tracks = Vec::new();
        let mut need_decoder = false;
        for r in renditions {
            let copy = r.passthrough && source_format == Some((r.sample_rate, r.channels));
            if r.passthrough && !copy {
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
                    asc: extradata.to_vec(),
                    out: Output::Copy,
                });
                continue;
            }
            need_decoder = true;
            let enc = encoder::open_aac(r.sample_rate, r.channels, r.bitrate, r.name.as_str())?;
            // SAFETY: reading the opened encoder's extradata of its stated size.
            let asc = unsafe {
                let ctx = enc.as_ptr();
                if (*ctx).extradata.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(
                        (*ctx).extradata,
                        (*ctx).extradata_size.max(0) as usize,
                    )
                    .to_vec()
                }
            };
            tracks.push(AudioTrack {
                rendition: r.clone(),
                sample_rate: r.sample_rate,
                asc,
                out: Output::Encode {
                    enc,
                    resampler: None,
                    fifo: vec![Vec::new(); usize::from(r.channels)],
                    next_pts: None,
                    trim: 0,
                },
            });
        }
        let decoder = if need_decoder {
            let mut ctx = codec::context::Context::from_parameters(params).map_err(|source| {
                PipelineError::Decoder {
                    what: "audio",
                    source,
                }
            })?;
            // SAFETY: plain field write on an unopened context we own.
            unsafe {
                (*ctx.as_mut_ptr()).pkt_timebase = time_base.into();
            }
            Some(
                ctx.decoder()
                    .audio()
                    .map_err(|source| PipelineError::Decoder {
                        what: "audio",
                        source,
                    })?,
            )
        } else {
            None
        };
        Ok(Self {
            tracks,
            decoder,
            time_base,
            origin_90k,
            base_90k,
        })
    }

    /// Packager track descriptions, in rendition order.
    pub fn track_specs(&self) -> Result<Vec<TrackSpec>, PipelineError> {
        self.tracks
            .iter()
            .map(|t| {
                Ok(TrackSpec {
                    name: t.rendition.name.to_string(),
                    media: TrackMedia::Audio {
                        codec: audio_config(&t.asc)?,
                    },
                    timescale: t.sample_rate,
                    bandwidth: t.rendition.bitrate,
                    average_bandwidth: t.rendition.bitrate,
                })
            })
            .collect()
    }

    fn to_samples(&self, ts: i64, rate: u32) -> i64 {
        let t90 = ts.rescale(self.time_base, VIDEO_TIME_BASE) - self.origin_90k + self.base_90k;
        t90.rescale(VIDEO_TIME_BASE, Rational::new(1, rate as i32))
    }

    /// Runs until `rx` closes; audio tracks are `first_track`, `first_track + 1`, ...
    pub(crate) fn run(
        &mut self,
        rx: Receiver<ff::Packet>,
        out: &PackMsgSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        let mut decoded = frame::Audio::empty();
        while let Ok(packet) = rx.recv() {
            for i in 0..self.tracks.len() {
                if matches!(self.tracks[i].out, Output::Copy) {
                    let Some(pts) = packet.pts() else { continue };
                    let t = self.to_samples(pts, self.tracks[i].sample_rate);
                    if t < self.to_samples_base(self.tracks[i].sample_rate) {
                        continue;
                    }
                    let sample = Sample {
                        dts: t,
                        pts: t,
                        duration: None,
                        keyframe: true,
                        segment_start: false,
                        data: bytes::Bytes::copy_from_slice(packet.data().unwrap_or_default()),
                    };
                    out.sample(TrackId(first_track + i), sample)?;
                }
            }
            let Some(dec) = self.decoder.as_mut() else {
                continue;
            };
            if let Err(e) = dec.send_packet(&packet) {
                tracing::warn!(pts = ?packet.pts(), error = %e, "corrupt audio packet skipped");
                continue;
            }
            while self
                .decoder
                .as_mut()
                .is_some_and(|d| d.receive_frame(&mut decoded).is_ok())
            {
                let f = std::mem::replace(&mut decoded, frame::Audio::empty());
                self.encode_frame(&f, out, first_track)?;
            }
        }
        if let Some(dec) = self.decoder.as_mut() {
            let _ = dec.send_eof();
            while self
                .decoder
                .as_mut()
                .is_some_and(|d| d.receive_frame(&mut decoded).is_ok())
            {
                let f = std::mem::replace(&mut decoded, frame::Audio::empty());
                self.encode_frame(&f, out, first_track)?;
            }
        }
        for i in 0..self.tracks.len() {
            self.flush_track(i, out, first_track)?;
        }
        Ok(())
    }

    fn to_samples_base(&self, rate: u32) -> i64 {
        self.base_90k
            .rescale(VIDEO_TIME_BASE, Rational::new(1, rate as i32))
    }

    fn encode_frame(
        &mut self,
        f: &frame::Audio,
        out: &PackMsgSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        let ts = f.timestamp().or(f.pts());
        for i in 0..self.tracks.len() {
            let rate = self.tracks[i].sample_rate;
            let start = ts.map(|t| self.to_samples(t, rate));
            let base = self.to_samples_base(rate);
            let channels = usize::from(self.tracks[i].rendition.channels);
            let name = self.tracks[i].rendition.name.clone();
            let Output::Encode {
                resampler,
                fifo,
                next_pts,
                trim,
                ..
            } = &mut self.tracks[i].out
            else {
                continue;
            };
            if next_pts.is_none() {
                let s = start.unwrap_or(base);
                if s < base {
                    *trim = (base - s) as usize;
                    *next_pts = Some(base);
                } else {
                    *next_pts = Some(s);
                }
            }
            let layout = if f.channel_layout().bits() == 0 {
                ChannelLayout::default(i32::from(f.channels()))
            } else {
                f.channel_layout()
            };
            let key = (f.format(), layout.bits(), f.rate());
            if resampler.as_ref().is_none_or(|(_, k)| *k != key) {
                if let Some((old, _)) = resampler.as_mut() {
                    // The source format changed: what the old resampler holds still belongs to the stream.
                    resample_into(old, None, channels, fifo).map_err(|e| {
                        PipelineError::Rendition {
                            rendition: name.clone(),
                            message: format!("draining the resampler failed: {e}"),
                        }
                    })?;
                }
                let ctx = resampling::Context::get(
                    f.format(),
                    layout,
                    f.rate(),
                    format::Sample::F32(format::sample::Type::Planar),
                    ChannelLayout::default(channels as i32),
                    rate,
                )
                .map_err(|e| PipelineError::Rendition {
                    rendition: name.clone(),
                    message: format!("cannot resample: {e}"),
                })?;
                *resampler = Some((ctx, key));
            }
            let (ctx, _) = resampler.as_mut().expect("set above");
            let mut src = f.clone();
            src.set_channel_layout(layout);
            resample_into(ctx, Some(&src), channels, fifo).map_err(|e| {
                PipelineError::Rendition {
                    rendition: name.clone(),
                    message: format!("resampling failed: {e}"),
                }
            })?;
            if *trim > 0 {
                let n = (*trim).min(fifo[0].len());
                for buf in fifo.iter_mut() {
                    buf.drain(..n);
                }
                *trim -= n;
            }
            self.drain_fifo(i, out, first_track, false)?;
        }
        Ok(())
    }

    fn drain_fifo(
        &mut self,
        i: usize,
        out: &PackMsgSender,
        first_track: usize,
        last: bool,
    ) -> Result<(), PipelineError> {
        let t = &mut self.tracks[i];
        let rate = t.sample_rate;
        let channels = usize::from(t.rendition.channels);
        let name = t.rendition.name.clone();
        let Output::Encode {
            enc,
            fifo,
            next_pts,
            ..
        } = &mut t.out
        else {
            return Ok(());
        };
        let size = enc.frame_size().max(1) as usize;
        while fifo[0].len() >= size || (last && !fifo[0].is_empty()) {
            let n = fifo[0].len().min(size);
            let mut frame = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                n,
                ChannelLayout::default(channels as i32),
            );
            frame.set_rate(rate);
            for (ch, buf) in fifo.iter_mut().enumerate() {
                frame.plane_mut::<f32>(ch)[..n].copy_from_slice(&buf[..n]);
                buf.drain(..n);
            }
            let pts = next_pts.unwrap_or(0);
            frame.set_pts(Some(pts));
            *next_pts = Some(pts + n as i64);
            enc.send_frame(&frame)
                .map_err(|e| PipelineError::Rendition {
                    rendition: name.clone(),
                    message: format!("AAC encoder: {e}"),
                })?;
            Self::drain_encoder(enc, out, TrackId(first_track + i))?;
        }
        Ok(())
    }

    fn drain_encoder(
        enc: &mut ff::encoder::Audio,
        out: &PackMsgSender,
        track: TrackId,
    ) -> Result<(), PipelineError> {
        // SAFETY: reading a plain field of the opened encoder.
        let priming = i64::from(unsafe { (*enc.as_ptr()).initial_padding });
        let mut packet = ff::Packet::empty();
        while enc.receive_packet(&mut packet).is_ok() {
            let Some(pts) = packet.pts() else { continue };
            let t = pts + priming;
            let sample = Sample {
                dts: t,
                pts: t,
                duration: (packet.duration() > 0).then_some(packet.duration() as u32),
                keyframe: true,
                segment_start: false,
                data: bytes::Bytes::copy_from_slice(packet.data().unwrap_or_default()),
            };
            out.sample(track, sample)?;
        }
        Ok(())
    }

    fn flush_track(
        &mut self,
        i: usize,
        out: &PackMsgSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        let channels = usize::from(self.tracks[i].rendition.channels);
        let name = self.tracks[i].rendition.name.clone();
        if let Output::Encode {
            resampler: Some((ctx, _)),
            fifo,
            ..
        } = &mut self.tracks[i].out
        {
            resample_into(ctx, None, channels, fifo).map_err(|e| PipelineError::Rendition {
                rendition: name,
                message: format!("draining the resampler failed: {e}"),
            })?;
        }
        self.drain_fifo(i, out, first_track, true)?;
        if let Output::Encode { enc, .. } = &mut self.tracks[i].out {
            let _ = enc.send_eof();
            Self::drain_encoder(enc, out, TrackId(first_track + i))?;
        }
        Ok(())
    }
}

/// Converts `input` (or, with `None`, drains what the resampler still holds)
/// and appends the planar samples to `fifo`.
///
/// The output frame is sized by `swr_get_out_samples`, which counts the
/// samples the resampler buffers: sized by the input's count instead, a
/// 44.1 -> 48 kHz conversion leaves 48/44.1 - 1 of every frame inside the
/// resampler, and that audio is never heard.
fn resample_into(
    ctx: &mut resampling::Context,
    input: Option<&frame::Audio>,
    channels: usize,
    fifo: &mut [Vec<f32>],
) -> Result<(), ff::Error> {
    loop {
        let in_samples = input.map_or(0, |f| f.samples() as i32);
        // SAFETY: `ctx` is an initialised resampler owned by the caller.
        let room = unsafe { ff::ffi::swr_get_out_samples(ctx.as_mut_ptr(), in_samples) };
        if room < 0 {
            return Err(ff::Error::from(room));
        }
        if room == 0 && input.is_none() {
            return Ok(());
        }
        let mut converted = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Planar),
            room.max(1) as usize,
            ChannelLayout::default(channels as i32),
        );
        match input {
            Some(f) => ctx.run(f, &mut converted)?,
            None => ctx.flush(&mut converted)?,
        };
        let n = converted.samples();
        for (ch, buf) in fifo.iter_mut().enumerate().take(converted.planes()) {
            buf.extend_from_slice(&converted.plane::<f32>(ch)[..n]);
        }
        // Input is consumed in one call; a drain goes on until nothing comes out.
        if input.is_some() || n == 0 {
            return Ok(());
        }
    }
}
