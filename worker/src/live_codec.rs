//! Decoder parameters for a live channel's tracks, from the configuration
//! packets the ingest forwards: the H.264, HEVC or AV1 record, an AAC
//! `AudioSpecificConfig`, or for the older audio codecs FLV carries the codec
//! with (where its frames do not say it) the sample rate and channel count.

use ff::{codec, Rational};
use ffmpeg_next as ff;
use livefleet_base::{AudioFormat, Codec, MediaPacket, Track};

use crate::codec_params::parameters_from_config;
use crate::source::StreamInfo;

/// FFmpeg's decoder for a packet codec.
fn decoder_id(codec: Codec) -> codec::Id {
    match codec {
        Codec::H264 => codec::Id::H264,
        Codec::Hevc => codec::Id::HEVC,
        Codec::Av1 => codec::Id::AV1,
        Codec::Aac => codec::Id::AAC,
        Codec::Mp3 => codec::Id::MP3,
        Codec::PcmU8 => codec::Id::PCM_U8,
        Codec::PcmS16Le => codec::Id::PCM_S16LE,
        Codec::Alaw => codec::Id::PCM_ALAW,
        Codec::Mulaw => codec::Id::PCM_MULAW,
        Codec::AdpcmSwf => codec::Id::ADPCM_SWF,
        Codec::Nellymoser => codec::Id::NELLYMOSER,
        Codec::Speex => codec::Id::SPEEX,
    }
}

/// The stream a configuration packet describes, in the RTMP clock
/// (milliseconds). `None`, with a warning, for an older audio codec whose
/// configuration does not name a usable format: the session goes on without
/// that audio rather than feeding a decoder it cannot open.
pub(crate) fn stream_from_config(
    config: &MediaPacket,
    frame_rate: Option<Rational>,
) -> Option<StreamInfo> {
    let ms = Rational::new(1, 1000);
    let extradata: &[u8] = if config.codec.describes_itself() {
        &config.data
    } else {
        &[]
    };
    let mut parameters = parameters_from_config(config.track, decoder_id(config.codec), extradata);
    if config.track == Track::Audio && !config.codec.describes_itself() {
        let Some(format) = AudioFormat::parse(&config.data) else {
            tracing::warn!(
                session = config.session,
                codec = ?config.codec,
                bytes = config.data.len(),
                "audio configuration names no usable sample format; dropping this audio"
            );
            return None;
        };
        set_format(&mut parameters, format);
    }
    Some(StreamInfo {
        parameters,
        time_base: ms,
        frame_rate,
        rotation: Default::default(),
    })
}

fn set_format(parameters: &mut codec::Parameters, format: AudioFormat) {
    // SAFETY: we own the parameters; av_channel_layout_default writes a native
    // layout (no allocation) into the struct's own ch_layout.
    unsafe {
        let ptr = parameters.as_mut_ptr();
        (*ptr).sample_rate = format.sample_rate as i32;
        ff::ffi::av_channel_layout_default(&mut (*ptr).ch_layout, i32::from(format.channels));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use livefleet_base::PacketKind;

    fn config(codec: Codec, data: Bytes) -> MediaPacket {
        MediaPacket {
            kind: PacketKind::Config,
            track: Track::Audio,
            keyframe: true,
            codec,
            session: 1,
            dts_ms: 0,
            pts_ms: 0,
            data,
        }
    }

    #[test]
    fn older_codecs_open_a_decoder_at_their_format() {
        ff::init().unwrap();
        let alaw = AudioFormat {
            sample_rate: 8000,
            channels: 1,
        };
        let s = stream_from_config(&config(Codec::Alaw, alaw.encode()), None).unwrap();
        let dec = crate::aac::open_audio_decoder(&s).unwrap();
        assert_eq!((dec.rate(), dec.channels()), (8000, 1));
        let mp3 = stream_from_config(&config(Codec::Mp3, Bytes::new()), None).unwrap();
        assert!(crate::aac::open_audio_decoder(&mp3).is_ok());
        assert!(stream_from_config(&config(Codec::Mulaw, Bytes::new()), None).is_none());
    }
}
