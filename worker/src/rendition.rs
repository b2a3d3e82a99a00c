//! The per-rendition stage: scale the shared decoded frame to the
//! rendition's size ([`crate::scale`]), put it on the rendition's frame-rate
//! grid ([`crate::cadence`]), force keyframes where the
//! [`BoundaryClock`](crate::boundary::BoundaryClock) said, encode, and hand
//! the samples to the package stage. One thread per encoded rendition.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::Receiver;
use ff::{format, frame, Rational};
use ffmpeg_next as ff;
use livefleet_base::RenditionName;
use livefleet_packager::{annexb, Sample, TrackId, TrackMedia, TrackSpec, Turn, VideoCodecConfig};
use livefleet_profile::VideoCodec;

use crate::boundary::Boundary;
use crate::cadence::Cadence;
use crate::captions::CaptionCarry;
use crate::encoder::{self, EncoderKind, FrameInput, VideoSettings};
use crate::error::RenditionFault;
use crate::hw::cuda_frames::SCALED_FORMAT;
use crate::hw::{CudaDevice, GpuError};
use crate::metrics::{DropReason, RenditionMeter, SpeedWindow};
use crate::pack::PackSender;
use crate::scale::{FrameScaler, ScaleError};
use crate::video_path::{GpuPiece, VideoPath};
use crate::PipelineError;

/// A picture for every rendition, stamped on the broadcast's timeline.
pub struct VideoJob {
    pub picture: Picture,
    pub pts: i64,
    pub boundary: Boundary,
}

/// What a rendition shows at a job's time.
#[derive(Clone)]
pub enum Picture {
    /// A decoded frame of the source, shared by every rendition.
    Decoded(Arc<frame::Video>),
    /// The rendition's last picture again, as it was scaled (the video
    /// stopped while the audio goes on: `crate::hold`).
    Held,
}

/// An opened encoder of one rendition, before its thread starts.
pub struct RenditionEncoder {
    encoder: ff::encoder::Video,
    settings: VideoSettings,
    track: TrackId,
    name: RenditionName,
    path: VideoPath,
    meter: Option<RenditionMeter>,
    /// The source's frame rate (the cadence's, when it runs faster).
    source_rate: Rational,
}

impl RenditionEncoder {
    /// Opens the encoder and describes the rendition's packager track (the
    /// init segment needs the encoder's configuration, so this comes first).
    pub fn open(
        path: VideoPath,
        device: Option<&CudaDevice>,
        settings: &VideoSettings,
        name: &RenditionName,
        track: TrackId,
    ) -> Result<(Self, TrackSpec), PipelineError> {
        let kind = path.encoder();
        let input = match (path, device) {
            (VideoPath::ZeroCopy, Some(device)) => FrameInput::Cuda(device),
            (VideoPath::ZeroCopy, None) => {
                return Err(PipelineError::Gpu {
                    piece: GpuPiece::Device,
                    source: GpuError::NoDeviceForPath,
                })
            }
            (VideoPath::Hybrid, _) => FrameInput::System(SCALED_FORMAT),
            (VideoPath::Upload | VideoPath::Cpu, _) => FrameInput::System(format::Pixel::YUV420P),
        };
        let encoder = encoder::open_video(kind, settings, name.as_str(), input).map_err(|e| {
            if kind == EncoderKind::Nvenc {
                PipelineError::Gpu {
                    piece: GpuPiece::Nvenc,
                    source: GpuError::from(e).in_rendition(name),
                }
            } else {
                PipelineError::Encoder(e)
            }
        })?;
        let codec = VideoCodecConfig::from_extradata(
            packager_codec(settings.codec),
            &encoder_extradata(&encoder),
        )?;
        let s = settings;
        let spec = TrackSpec {
            name: name.to_string(),
            media: TrackMedia::Video {
                width: s.width,
                height: s.height,
                frame_rate: Some((
                    s.frame_rate.numerator() as u32,
                    s.frame_rate.denominator() as u32,
                )),
                codec,
                pixel_aspect: (1, 1),
                turn: Turn::Upright,
                range: s.colour.video_range(),
            },
            timescale: 90_000,
            bandwidth: s.max_bitrate,
            average_bandwidth: s.bitrate,
        };
        Ok((
            Self {
                encoder,
                settings: settings.clone(),
                track,
                name: name.clone(),
                path,
                meter: None,
                source_rate: settings.frame_rate,
            },
            spec,
        ))
    }

    /// The rate the source's frames come at (the rendition's own unless said).
    pub fn fed_at(&mut self, source_rate: Rational) {
        self.source_rate = source_rate;
    }

    /// Counts this rendition in a channel's metrics.
    pub fn meter(&mut self, channel: &crate::metrics::ChannelMeter) {
        self.meter = Some(channel.rendition(self.name.as_str(), self.path.encoder()));
    }

    /// Runs until `rx` closes. `max_end` is raised to the media end of every
    /// sample sent (90 kHz), where the next session continues.
    pub(crate) fn run(
        mut self,
        rx: Receiver<VideoJob>,
        out: &PackSender,
        max_end: &AtomicU64,
    ) -> Result<(), PipelineError> {
        let target = self.settings.clone();
        let mut scaler = FrameScaler::for_path(self.path);
        let mut keys = KeyTracker::default();
        let mut cadence: Option<Cadence> = None;
        let mut captions = CaptionCarry::default();
        let mut previous: Option<frame::Video> = None;
        let mut last_pts = i64::MIN;
        let mut speed = SpeedWindow::default();
        while let Ok(VideoJob {
            picture,
            pts,
            boundary,
        }) = rx.recv()
        {
            let src = match picture {
                Picture::Decoded(f) => Some(f),
                Picture::Held => None,
            };
            if pts <= last_pts {
                if let Some(src) = &src {
                    captions.dropped(src);
                }
                if let Some(m) = &self.meter {
                    m.channel().dropped(DropReason::OutOfOrder);
                }
                continue;
            }
            last_pts = pts;
            // One frame per slot of the rendition's frame rate (crate::cadence).
            let cadence = cadence.get_or_insert_with(|| {
                Cadence::from_source(pts, target.frame_rate, self.source_rate)
            });
            let Some(place) = cadence.place(pts, boundary.force_key, boundary.due) else {
                if let Some(src) = &src {
                    captions.dropped(src);
                }
                continue;
            };
            let frame_90k = cadence.step();
            let work = std::time::Instant::now();
            let mut handing = std::time::Duration::ZERO;
            let mut media = 0.0;
            if let Some(prev) = previous.as_mut() {
                for at in place.repeats {
                    prev.set_pts(Some(at));
                    prev.set_kind(ff::picture::Type::None);
                    captions.onto(prev);
                    self.send(prev, at)?;
                    CaptionCarry::said(prev);
                    handing += self.drain(&mut keys, out, max_end, frame_90k)?;
                    media += frame_90k as f64 / 90_000.0;
                }
            }
            let mut f = match src {
                Some(src) => scaler.scale(&src, &target).map_err(|e| match e {
                    ScaleError::Cpu(e) => self.failed(e.into()),
                    ScaleError::Gpu(e) => PipelineError::Gpu {
                        piece: GpuPiece::Decode,
                        source: e.in_rendition(&self.name),
                    },
                })?,
                None => match previous.take() {
                    Some(prev) => prev,
                    None => continue,
                },
            };
            f.set_pts(Some(place.pts));
            f.set_kind(if boundary.force_key {
                ff::picture::Type::I
            } else {
                ff::picture::Type::None
            });
            if boundary.segment_start {
                keys.starts.push_back(place.pts);
            }
            captions.onto(&mut f);
            self.send(&f, place.pts)?;
            CaptionCarry::said(&mut f);
            previous = Some(f);
            // Time waiting on the packager (a slow store) is not encode time.
            handing += self.drain(&mut keys, out, max_end, frame_90k)?;
            media += frame_90k as f64 / 90_000.0;
            let busy = work.elapsed().saturating_sub(handing);
            speed.add(media, busy, self.meter.as_ref());
        }
        let frame_90k = cadence.as_ref().map_or(3000, Cadence::step);
        self.encoder.send_eof().map_err(|source| {
            self.failed(RenditionFault::Codec {
                what: "encoder flush failed",
                source,
            })
        })?;
        self.drain(&mut keys, out, max_end, frame_90k).map(drop)
    }

    fn send(&mut self, f: &frame::Video, pts: i64) -> Result<(), PipelineError> {
        self.encoder.send_frame(f).map_err(|source| {
            if self.path.encoder() == EncoderKind::Nvenc {
                PipelineError::Gpu {
                    piece: GpuPiece::Nvenc,
                    source: GpuError::Call {
                        what: format!("NVENC refused a frame at {pts}"),
                        source,
                    }
                    .in_rendition(&self.name),
                }
            } else {
                self.failed(RenditionFault::Frame { pts, source })
            }
        })
    }

    pub fn name(&self) -> &RenditionName {
        &self.name
    }

    fn failed(&self, source: RenditionFault) -> PipelineError {
        PipelineError::Rendition {
            rendition: self.name.clone(),
            source,
        }
    }

    fn drain(
        &mut self,
        keys: &mut KeyTracker,
        out: &PackSender,
        max_end: &AtomicU64,
        frame_90k: i64,
    ) -> Result<std::time::Duration, PipelineError> {
        let mut handing = std::time::Duration::ZERO;
        let mut packet = ff::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let (Some(pts), Some(dts)) = (packet.pts(), packet.dts()) else {
                continue;
            };
            let shift = *keys.shift.get_or_insert((pts - dts).max(0));
            let key = packet.is_key();
            let segment_start = key && keys.starts_segment(pts);
            if let Some(m) = &self.meter {
                m.frames_encoded(1);
                for _ in 0..std::mem::take(&mut keys.missed) {
                    m.keyframe_missed();
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
            let t = std::time::Instant::now();
            out.sample(self.track, sample)?;
            handing += t.elapsed();
        }
        Ok(handing)
    }
}

/// Which encoded keyframes start a segment.
#[derive(Default)]
struct KeyTracker {
    /// Segment starts asked of the encoder, not yet seen in its output.
    starts: VecDeque<i64>,
    /// Decode-to-presentation shift of the first packet (B-frames).
    shift: Option<i64>,
    /// Forced keyframes the encoder did not place where asked, not yet counted.
    missed: u64,
}

impl KeyTracker {
    /// A keyframe at `pts` starts a segment when a start was asked at or
    /// before it: an encoder that missed a forced keyframe starts the
    /// segment at its next one, and the packager numbers it by time, so the
    /// rendition's segment numbers stay those of the ladder.
    fn starts_segment(&mut self, pts: i64) -> bool {
        let mut any = false;
        while let Some(s) = self.starts.front().copied().filter(|s| *s <= pts) {
            self.starts.pop_front();
            if s < pts {
                self.missed += 1;
            }
            any = true;
        }
        any
    }
}

pub(crate) fn encoder_extradata(enc: &ff::encoder::Video) -> Vec<u8> {
    // SAFETY: reading the opened encoder's extradata of its stated size.
    unsafe {
        let ctx = enc.as_ptr();
        if (*ctx).extradata.is_null() || (*ctx).extradata_size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec()
    }
}

fn packager_codec(c: VideoCodec) -> livefleet_packager::VideoCodec {
    match c {
        VideoCodec::H264 => livefleet_packager::VideoCodec::H264,
        VideoCodec::Hevc => livefleet_packager::VideoCodec::Hevc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_keyframe_still_starts_its_segment() {
        let mut k = KeyTracker::default();
        k.starts.extend([0, 180_000, 360_000]);
        assert!(k.starts_segment(0));
        assert!(
            !k.starts_segment(90_000),
            "a GOP keyframe inside the segment"
        );
        assert!(
            k.starts_segment(183_000),
            "the forced keyframe came a frame late"
        );
        assert!(k.starts_segment(360_000));
        assert!(!k.starts_segment(450_000));
    }
}
