//! Encoding an audio rendition: the source's frames resampled into a FIFO
//! of planar samples, cut into AAC frames, and the encoder drained into the
//! packager.

use ff::{format, frame, software::resampling, ChannelLayout};
use ffmpeg_next as ff;
use livefleet_packager::TrackId;

use super::{AudioLadder, Output};
use crate::aac::drain_encoder;
use crate::error::RenditionFault;
use crate::pack::PackSender;
use crate::resample::resample_into;
use crate::PipelineError;

impl AudioLadder {
    pub(super) fn encode_frame(
        &mut self,
        f: &mut frame::Audio,
        out: &PackSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        let ts = f.timestamp().or(f.pts());
        for i in 0..self.tracks.len() {
            let rate = self.tracks[i].sample_rate;
            let start = ts.map(|t| self.timeline.to_samples(t, self.time_base, rate));
            let base = self.timeline.base_samples(rate);
            let channels = usize::from(self.tracks[i].rendition.channels);
            let name = self.tracks[i].rendition.name.clone();
            let failed = |what: &'static str, source: ff::Error| PipelineError::Rendition {
                rendition: name.clone(),
                source: RenditionFault::Codec { what, source },
            };
            let Output::Encode {
                resampler,
                fifo,
                next_pts,
                trim,
                silent,
                ..
            } = &mut self.tracks[i].out
            else {
                continue;
            };
            if *silent {
                // The first real audio: placed by its timestamp, after the silence so far.
                *silent = false;
                let s = start.unwrap_or(base).max(base);
                let at = next_pts
                    .get_or_insert(s)
                    .saturating_add(fifo[0].len() as i64);
                if s > at {
                    for buf in fifo.iter_mut() {
                        buf.resize(buf.len() + (s - at) as usize, 0.0);
                    }
                }
                *trim = (at - start.unwrap_or(at)).max(0) as usize;
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
                    resample_into(old, None, channels, fifo)
                        .map_err(|e| failed("draining the resampler failed", e))?;
                }
                let ctx = resampling::Context::get(
                    f.format(),
                    layout,
                    f.rate(),
                    format::Sample::F32(format::sample::Type::Planar),
                    ChannelLayout::default(channels as i32),
                    rate,
                )
                .map_err(|e| failed("cannot resample", e))?;
                *resampler = Some((ctx, key));
            }
            let (ctx, _) = resampler.as_mut().expect("set above");
            // The layout is set on the decoded frame itself. A copy made by
            // `clone` is allocated from the layout, so a frame whose layout
            // is unknown (PCM in AVI, MKV, WAV) came out without channels,
            // and the resampler read past its empty planes (a segfault).
            f.set_channel_layout(layout);
            let queued = fifo[0].len();
            resample_into(ctx, Some(f), channels, fifo)
                .map_err(|e| failed("resampling failed", e))?;
            if *trim > 0 {
                // Drop the start of the new audio (what overlaps the silence
                // or comes before the video origin), not what was queued before it.
                let n = (*trim).min(fifo[0].len() - queued);
                for buf in fifo.iter_mut() {
                    buf.drain(queued..queued + n);
                }
                *trim -= n;
            }
            self.drain_fifo(i, out, first_track, false)?;
        }
        Ok(())
    }

    pub(super) fn drain_fifo(
        &mut self,
        i: usize,
        out: &PackSender,
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
        let mut end = None;
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
                .map_err(|source| PipelineError::Rendition {
                    rendition: name.clone(),
                    source: RenditionFault::Codec {
                        what: "AAC encoder",
                        source,
                    },
                })?;
            end = drain_encoder(enc, out, TrackId(first_track + i))?.or(end);
        }
        self.reached(end, rate);
        Ok(())
    }

    /// Moves what the track's resampler still holds into its FIFO.
    pub(super) fn drain_resampler(&mut self, i: usize) -> Result<(), PipelineError> {
        let channels = usize::from(self.tracks[i].rendition.channels);
        let name = self.tracks[i].rendition.name.clone();
        if let Output::Encode {
            resampler: Some((ctx, _)),
            fifo,
            ..
        } = &mut self.tracks[i].out
        {
            resample_into(ctx, None, channels, fifo).map_err(|source| {
                PipelineError::Rendition {
                    rendition: name,
                    source: RenditionFault::Codec {
                        what: "draining the resampler failed",
                        source,
                    },
                }
            })?;
        }
        Ok(())
    }

    /// Encodes the rest of the track's FIFO and drains its encoder.
    pub(super) fn finish_track(
        &mut self,
        i: usize,
        out: &PackSender,
        first_track: usize,
    ) -> Result<(), PipelineError> {
        self.drain_fifo(i, out, first_track, true)?;
        let rate = self.tracks[i].sample_rate;
        if let Output::Encode { enc, .. } = &mut self.tracks[i].out {
            let _ = enc.send_eof();
            let end = drain_encoder(enc, out, TrackId(first_track + i))?;
            self.reached(end, rate);
        }
        Ok(())
    }
}
