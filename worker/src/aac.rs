//! The AAC plumbing of the audio stage: the encoder's configuration and
//! packets, the source's decoder.

use bytes::Bytes;
use ff::decoder;
use ffmpeg_next as ff;
use livefleet_packager::{AudioConfig, Sample, TrackId};

use crate::pack::PackSender;
use crate::source::StreamInfo;
use crate::PipelineError;

/// Sample rate and channel count from an AudioSpecificConfig, when it is one.
pub(crate) fn asc_format(asc: &[u8]) -> Option<(u32, u8)> {
    AudioConfig::new(Bytes::copy_from_slice(asc))
        .ok()
        .map(|c| (c.sample_rate(), c.channels()))
}

/// Hands every packet the encoder has ready to the packager; returns where
/// the last one ends (in samples), if there was one.
pub(crate) fn drain_encoder(
    enc: &mut ff::encoder::Audio,
    out: &PackSender,
    track: TrackId,
) -> Result<Option<i64>, PipelineError> {
    // SAFETY: reading a plain field of the opened encoder.
    let priming = i64::from(unsafe { (*enc.as_ptr()).initial_padding });
    let frame_size = i64::from(enc.frame_size().max(1));
    let mut packet = ff::Packet::empty();
    let mut end = None;
    while enc.receive_packet(&mut packet).is_ok() {
        let Some(pts) = packet.pts() else { continue };
        let t = pts + priming;
        let duration = (packet.duration() > 0).then_some(packet.duration() as u32);
        let sample = Sample {
            dts: t,
            pts: t,
            duration,
            keyframe: true,
            segment_start: false,
            data: Bytes::copy_from_slice(packet.data().unwrap_or_default()),
        };
        out.sample(track, sample)?;
        end = Some(t + duration.map_or(frame_size, i64::from));
    }
    Ok(end)
}

pub(crate) fn aac_extradata(enc: &ff::encoder::Audio) -> Vec<u8> {
    // SAFETY: reading the opened encoder's extradata of its stated size.
    unsafe {
        let ctx = enc.as_ptr();
        if (*ctx).extradata.is_null() {
            return Vec::new();
        }
        std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size.max(0) as usize).to_vec()
    }
}

pub(crate) fn open_audio_decoder(s: &StreamInfo) -> Result<decoder::Audio, PipelineError> {
    let failed = |source| PipelineError::Decoder {
        what: "audio",
        source,
    };
    crate::decode::open_decoder(&s.parameters, s.time_base, "audio")?
        .audio()
        .map_err(failed)
}
