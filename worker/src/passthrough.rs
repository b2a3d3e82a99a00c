//! The passthrough stage: the source's H.264, HEVC or AV1 copied as a
//! rendition, its packets turned into samples; segments start on the source
//! keyframes the [`BoundaryClock`](crate::boundary::BoundaryClock) chose.

use bytes::Bytes;
use ff::Rational;
use ffmpeg_next as ff;
use livefleet_packager::{
    annexb, av1, Sample, TrackId, TrackMedia, TrackSpec, Turn, VideoCodec, VideoCodecConfig,
    VideoRange,
};

use crate::error::RenditionFault;
use crate::ladder::PlannedVideo;
use crate::timeline::Timeline;
use crate::PipelineError;

/// Advertised bandwidth of a passthrough rendition whose profile names none.
const DEFAULT_BITRATE: u64 = 5_000_000;

/// The copied source rendition of one session.
pub struct Passthrough {
    pub track: TrackId,
    /// How the source's packets hold their pictures.
    layout: Layout,
    shift: Option<i64>,
    started: bool,
    /// Media end so far on the broadcast's timeline (90 kHz).
    pub end_90k: i64,
}

impl Passthrough {
    /// The copy of a source of codec `id` (its configuration in
    /// `extradata`) as rendition `v` on `track`, and its packager track: the
    /// source as stored ([`stored_picture`]), with the turn players apply to
    /// show it. H.264, HEVC and AV1 are copied; other codecs are refused by name.
    pub fn open(
        v: &PlannedVideo,
        track: TrackId,
        (id, extradata): (ff::codec::Id, &[u8]),
        stored: StoredPicture,
        turn: Turn,
        fps: Rational,
    ) -> Result<(Self, TrackSpec), PipelineError> {
        let fault = |source| PipelineError::Rendition {
            rendition: v.rendition.name.clone(),
            source,
        };
        let packaged = crate::codec_params::packaged_codec(id)
            .ok_or_else(|| fault(RenditionFault::PassthroughCodec(format!("{id:?}"))))?;
        let codec = VideoCodecConfig::from_extradata(packaged, extradata)
            .map_err(|e| fault(RenditionFault::Passthrough(e)))?;
        let copy = Self {
            track,
            layout: Layout::of(packaged, extradata),
            shift: None,
            started: false,
            end_90k: 0,
        };
        let bitrate = if v.rendition.bitrate > 0 {
            v.rendition.bitrate
        } else {
            DEFAULT_BITRATE
        };
        let spec = TrackSpec {
            name: v.rendition.name.to_string(),
            media: TrackMedia::Video {
                width: stored.width,
                height: stored.height,
                pixel_aspect: stored.pixel_aspect,
                frame_rate: Some((fps.numerator() as u32, fps.denominator() as u32)),
                codec,
                turn,
                range: stored.range,
            },
            timescale: 90_000,
            bandwidth: v.rendition.max_bitrate.max(bitrate),
            average_bandwidth: bitrate,
        };
        Ok((copy, spec))
    }

    /// The sample of a source packet, `None` before the first keyframe.
    /// `segment_start` is the clock's answer for a keyframe.
    pub fn sample(
        &mut self,
        packet: &ff::Packet,
        timeline: &Timeline,
        time_base: Rational,
        segment_start: bool,
    ) -> Option<Sample> {
        let (pts, dts) = (packet.pts()?, packet.dts().or(packet.pts())?);
        let key = packet.is_key();
        if !self.started && !key {
            return None;
        }
        self.started = true;
        let (pts, dts) = (
            timeline.to_90k(pts, time_base),
            timeline.to_90k(dts, time_base),
        );
        let shift = *self.shift.get_or_insert((pts - dts).max(0));
        let raw = packet.data().unwrap_or_default();
        let data = match self.layout {
            Layout::Lengths(4) => raw.to_vec(),
            Layout::Lengths(n) => relength(raw, n),
            Layout::AnnexB => annexb::to_length_prefixed(raw),
            Layout::Obus => av1::to_sample(raw).unwrap_or_else(|(kept, why)| {
                tracing::warn!(pts, error = %why, "an AV1 temporal unit does not parse; copied as it came");
                kept
            }),
        };
        let duration = packet.duration().max(0);
        let duration_90k = timeline.to_90k(duration, time_base) - timeline.to_90k(0, time_base);
        self.end_90k = self.end_90k.max(pts + duration_90k);
        Some(Sample {
            dts: dts + shift,
            pts,
            duration: None,
            keyframe: key,
            segment_start: key && segment_start,
            data: Bytes::from(data),
        })
    }
}

/// The source's pictures as stored, which its copy declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPicture {
    pub width: u32,
    pub height: u32,
    /// The shape of a sample (`pasp`).
    pub pixel_aspect: (u32, u32),
    /// SDR, or the HDR transfer its pictures are coded with.
    pub range: VideoRange,
}

/// The source as stored, from its first decoded frame, which was turned
/// upright by `turn` (`crate::picture`): a quarter turn swaps the sides, and
/// the shape of a sample with them, back. `range` is what the frame was
/// coded with before any tone map.
pub fn stored_picture(frame: &ff::frame::Video, turn: Turn, range: VideoRange) -> StoredPicture {
    let (width, height) = turn.shown(frame.width(), frame.height());
    let (num, den) = crate::ladder::pixel_aspect(frame.aspect_ratio());
    let pixel_aspect = match turn {
        Turn::Clockwise | Turn::Counterclockwise => (den, num),
        Turn::Upright | Turn::Half => (num, den),
    };
    StoredPicture {
        width,
        height,
        pixel_aspect,
        range,
    }
}

/// How a source's packets hold their pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// NAL units behind lengths of this many bytes (an avcC or hvcC source).
    Lengths(usize),
    /// NAL units behind start codes (Annex B headers).
    AnnexB,
    /// AV1 OBUs, a temporal unit per packet.
    Obus,
}

impl Layout {
    /// From the configuration: the NAL unit length size a record declares
    /// (`avcC` byte 4, `hvcC` byte 21), Annex B when there is no record.
    fn of(codec: VideoCodec, extradata: &[u8]) -> Self {
        let at = match codec {
            VideoCodec::H264 => 4,
            VideoCodec::Hevc => 21,
            VideoCodec::Av1 => return Self::Obus,
        };
        if extradata.len() > at && extradata[0] == 1 {
            Self::Lengths(usize::from(extradata[at] & 3) + 1)
        } else {
            Self::AnnexB
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_picture_undoes_the_turn_of_the_decoded_one() {
        let _ = ff::init();
        // Stored 480x360 at 4:3 and turned a quarter: decoded 360x480 at 3:4.
        let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, 360, 480);
        let set_shape = |frame: &mut ff::frame::Video, num, den| {
            // SAFETY: a field write on a frame we own.
            unsafe { (*frame.as_mut_ptr()).sample_aspect_ratio = ff::ffi::AVRational { num, den } };
        };
        set_shape(&mut frame, 3, 4);
        for turn in [Turn::Clockwise, Turn::Counterclockwise] {
            assert_eq!(
                stored_picture(&frame, turn, VideoRange::Hlg),
                StoredPicture {
                    width: 480,
                    height: 360,
                    pixel_aspect: (4, 3),
                    range: VideoRange::Hlg,
                }
            );
        }
        for turn in [Turn::Upright, Turn::Half] {
            assert_eq!(
                stored_picture(&frame, turn, VideoRange::Sdr),
                StoredPicture {
                    width: 360,
                    height: 480,
                    pixel_aspect: (3, 4),
                    range: VideoRange::Sdr,
                }
            );
        }
        // An unknown shape is square.
        set_shape(&mut frame, 0, 1);
        assert_eq!(
            stored_picture(&frame, Turn::Upright, VideoRange::Sdr).pixel_aspect,
            (1, 1)
        );
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
