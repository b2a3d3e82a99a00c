//! FLV `AUDIODATA` bodies to media packets.
//!
//! AAC brings its own configuration (the sequence header). The older formats
//! FLV carries do not: their first byte says codec, rate, sample size and
//! channels on every tag. For those the reader forwards a configuration of
//! its own before the first frame, and again whenever that byte says
//! something new, so the worker opens a decoder that fits.

use bytes::Bytes;
use livefleet_base::{AudioFormat, Codec, MediaPacket, PacketKind, Track};

use crate::{AacConfig, FlvError, TagReader};

pub(crate) const AAC: u8 = 10;

impl TagReader {
    /// Reads one `AUDIODATA` body received at `dts_ms`: nothing for empty
    /// frames, a configuration and a frame for the first tag of an older
    /// codec (or one whose format changed), else one packet.
    pub fn audio(&mut self, dts_ms: i64, body: Bytes) -> Result<Vec<MediaPacket>, FlvError> {
        let Some(&first) = body.first() else {
            return Err(FlvError::Empty("audio"));
        };
        if first >> 4 == AAC {
            return self.aac(dts_ms, body).map(|p| p.into_iter().collect());
        }
        let (codec, format) = older_codec(first)?;
        let payload = body.slice(1..);
        if payload.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(2);
        let config = format.map(AudioFormat::encode).unwrap_or_default();
        if self.audio_format.as_ref() != Some(&(codec, config.clone())) {
            self.audio_format = Some((codec, config.clone()));
            out.push(self.packet(
                PacketKind::Config,
                Track::Audio,
                codec,
                true,
                dts_ms,
                dts_ms,
                config,
            ));
        }
        out.push(self.packet(
            PacketKind::Frame,
            Track::Audio,
            codec,
            true,
            dts_ms,
            dts_ms,
            payload,
        ));
        Ok(out)
    }

    fn aac(&mut self, dts_ms: i64, body: Bytes) -> Result<Option<MediaPacket>, FlvError> {
        if body.len() < 2 {
            return Err(FlvError::Short {
                what: "AAC audio tag",
                need: 2,
                have: body.len(),
            });
        }
        let payload = body.slice(2..);
        let packet = |kind, payload| {
            self.packet(
                kind,
                Track::Audio,
                Codec::Aac,
                true,
                dts_ms,
                dts_ms,
                payload,
            )
        };
        match body[1] {
            // An empty sequence header ahead of the real one (see the video case).
            0 if payload.is_empty() => Ok(None),
            0 => {
                AacConfig::parse(&payload)?;
                let config = packet(PacketKind::Config, payload);
                self.audio_format = None;
                Ok(Some(config))
            }
            1 if payload.is_empty() => Ok(None),
            1 => Ok(Some(packet(PacketKind::Frame, payload))),
            t => Err(FlvError::AacPacketType(t)),
        }
    }
}

/// The codec of a non-AAC tag's first byte, with the format its frames
/// leave unsaid (`None` for MP3, whose frame headers say it). Rates and
/// channels follow the FLV specification's fixed values where it has them
/// (G.711 and MP3 8 kHz at 8 kHz, Speex at 16 kHz mono, Nellymoser mono).
fn older_codec(first: u8) -> Result<(Codec, Option<AudioFormat>), FlvError> {
    let id = first >> 4;
    let rate = match (first >> 2) & 0b11 {
        0 => 5512,
        1 => 11025,
        2 => 22050,
        _ => 44100,
    };
    let sixteen_bit = first & 0b10 != 0;
    let channels = if first & 1 != 0 { 2 } else { 1 };
    let format = |sample_rate, channels| {
        Some(AudioFormat {
            sample_rate,
            channels,
        })
    };
    Ok(match id {
        0 | 3 if sixteen_bit => (Codec::PcmS16Le, format(rate, channels)),
        0 | 3 => (Codec::PcmU8, format(rate, channels)),
        1 => (Codec::AdpcmSwf, format(rate, channels)),
        2 | 14 => (Codec::Mp3, None),
        4 => (Codec::Nellymoser, format(16000, 1)),
        5 => (Codec::Nellymoser, format(8000, 1)),
        6 => (Codec::Nellymoser, format(rate, 1)),
        7 => (Codec::Alaw, format(8000, channels)),
        8 => (Codec::Mulaw, format(8000, channels)),
        11 => (Codec::Speex, format(16000, 1)),
        _ => {
            return Err(FlvError::UnsupportedAudio {
                id,
                name: audio_format_name(id),
            })
        }
    })
}

fn audio_format_name(id: u8) -> &'static str {
    match id {
        9 => "Enhanced RTMP audio",
        15 => "device-specific sound",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aac() {
        let mut r = TagReader::new(3);
        let c = r
            .audio(0, Bytes::from_static(&[0xaf, 0, 0x12, 0x10]))
            .unwrap();
        assert_eq!(
            (c[0].kind, c[0].track, c[0].codec),
            (PacketKind::Config, Track::Audio, Codec::Aac)
        );
        assert_eq!(&c[0].data[..], &[0x12, 0x10]);
        let f = r
            .audio(23, Bytes::from_static(&[0xaf, 1, 0x21, 0x1b]))
            .unwrap();
        assert_eq!(
            (f[0].kind, f[0].dts_ms, f[0].pts_ms, f[0].keyframe),
            (PacketKind::Frame, 23, 23, true)
        );
        assert!(matches!(
            r.audio(0, Bytes::from_static(&[0xaf, 0, 0x12])),
            Err(FlvError::AacConfig(_))
        ));
    }

    #[test]
    fn older_codecs_get_a_configuration_when_their_format_changes() {
        let mut r = TagReader::new(3);
        // MP3, 44 kHz, 16-bit, stereo: a configuration (empty) and the frame.
        let first = r.audio(0, Bytes::from_static(&[0x2f, 0xff, 0xfb])).unwrap();
        assert_eq!(
            first
                .iter()
                .map(|p| (p.kind, p.codec, p.data.len()))
                .collect::<Vec<_>>(),
            [
                (PacketKind::Config, Codec::Mp3, 0),
                (PacketKind::Frame, Codec::Mp3, 2)
            ]
        );
        assert_eq!(
            r.audio(26, Bytes::from_static(&[0x2f, 1])).unwrap().len(),
            1
        );
        // G.711 mu-law, mono: 8 kHz whatever the rate bits say.
        let ulaw = r.audio(52, Bytes::from_static(&[0x82, 1, 2])).unwrap();
        assert_eq!(
            (ulaw[0].kind, ulaw[0].codec),
            (PacketKind::Config, Codec::Mulaw)
        );
        assert_eq!(
            AudioFormat::parse(&ulaw[0].data),
            Some(AudioFormat {
                sample_rate: 8000,
                channels: 1
            })
        );
        // PCM: the sample size picks the codec.
        let pcm = r.audio(60, Bytes::from_static(&[0x3b, 1, 2])).unwrap();
        assert_eq!(pcm[0].codec, Codec::PcmS16Le);
        assert_eq!(
            AudioFormat::parse(&pcm[0].data).map(|f| f.sample_rate),
            Some(22050)
        );
        // Back to AAC and then MP3 again: MP3 is configured anew.
        r.audio(70, Bytes::from_static(&[0xaf, 0, 0x12, 0x10]))
            .unwrap();
        assert_eq!(
            r.audio(80, Bytes::from_static(&[0x2f, 1])).unwrap().len(),
            2
        );
        assert_eq!(r.audio(90, Bytes::from_static(&[0x2f])), Ok(Vec::new()));
    }

    #[test]
    fn refuses_what_it_cannot_decode_by_name() {
        let mut r = TagReader::new(1);
        let e = r.audio(0, Bytes::from_static(&[0x9f, 0])).unwrap_err();
        assert!(e.to_string().contains("Enhanced RTMP audio"), "{e}");
        assert_eq!(r.audio(0, Bytes::new()), Err(FlvError::Empty("audio")));
    }
}
