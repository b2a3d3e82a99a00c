//! Which codec a media packet's payload is in, and the sample format that the
//! older audio codecs need to be decoded at all.
//!
//! Video is H.264, or HEVC and AV1 from publishers that speak Enhanced RTMP
//! (OBS with an HEVC or AV1 encoder). Audio is AAC from every current encoder
//! (OBS, ffmpeg with `-c:a aac`), but FLV carries older formats that real
//! publishers still send:
//! MP3 is what `ffmpeg -f flv` picks when no audio codec is named, G.711 comes
//! from IP cameras, Speex and Nellymoser from Flash-era clients. The worker
//! decodes any of them and encodes the ladder's AAC.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Track;

/// The codec of one packet's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    /// HEVC in 4-byte length-prefixed NAL units; its configuration is an
    /// `HEVCDecoderConfigurationRecord`.
    Hevc,
    /// AV1 temporal units (low-overhead OBUs); its configuration is an
    /// `AV1CodecConfigurationRecord`.
    Av1,
    Aac,
    Mp3,
    /// Linear PCM, unsigned 8-bit.
    PcmU8,
    /// Linear PCM, signed 16-bit little endian.
    PcmS16Le,
    /// G.711 A-law.
    Alaw,
    /// G.711 mu-law.
    Mulaw,
    /// Flash's ADPCM.
    AdpcmSwf,
    Nellymoser,
    Speex,
}

impl Codec {
    /// The codec a track has when nothing else is said: what the first wire
    /// version carried, so its packets still read the same.
    pub fn default_for(track: Track) -> Self {
        match track {
            Track::Video => Self::H264,
            Track::Audio => Self::Aac,
        }
    }

    /// The 4-bit code in the wire header; 0 is the track's default.
    pub(crate) fn wire_code(self) -> u8 {
        match self {
            Self::H264 | Self::Aac => 0,
            Self::Hevc => 1,
            Self::Av1 => 2,
            Self::Mp3 => 1,
            Self::PcmU8 => 2,
            Self::PcmS16Le => 3,
            Self::Alaw => 4,
            Self::Mulaw => 5,
            Self::AdpcmSwf => 6,
            Self::Nellymoser => 7,
            Self::Speex => 8,
        }
    }

    /// The codec of a wire code on `track`; `None` for a code this build does
    /// not know.
    pub(crate) fn from_wire(track: Track, code: u8) -> Option<Self> {
        Some(match (track, code) {
            (_, 0) => Self::default_for(track),
            (Track::Video, 1) => Self::Hevc,
            (Track::Video, 2) => Self::Av1,
            (Track::Audio, 1) => Self::Mp3,
            (Track::Audio, 2) => Self::PcmU8,
            (Track::Audio, 3) => Self::PcmS16Le,
            (Track::Audio, 4) => Self::Alaw,
            (Track::Audio, 5) => Self::Mulaw,
            (Track::Audio, 6) => Self::AdpcmSwf,
            (Track::Audio, 7) => Self::Nellymoser,
            (Track::Audio, 8) => Self::Speex,
            _ => return None,
        })
    }

    /// Whether the codec's frames say their own sample rate and channels
    /// (its configuration, if any, is in-band).
    pub fn describes_itself(self) -> bool {
        matches!(
            self,
            Self::H264 | Self::Hevc | Self::Av1 | Self::Aac | Self::Mp3
        )
    }
}

/// Sample rate and channel count of an audio codec whose frames do not say
/// them (PCM, G.711, ADPCM, Nellymoser, Speex): the payload of its
/// configuration packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    pub sample_rate: u32,
    pub channels: u8,
}

impl AudioFormat {
    const LEN: usize = 5;

    /// The 5-byte form: sample rate (big endian u32), channel count.
    pub fn encode(self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::LEN);
        b.put_u32(self.sample_rate);
        b.put_u8(self.channels);
        b.freeze()
    }

    /// Reads the 5-byte form; `None` when it is not one or names no samples.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; Self::LEN] = b.try_into().ok()?;
        let sample_rate = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let channels = b[4];
        ((1..=384_000).contains(&sample_rate) && (1..=8).contains(&channels)).then_some(Self {
            sample_rate,
            channels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_round_trip_per_track() {
        let audio = [
            Codec::Aac,
            Codec::Mp3,
            Codec::PcmU8,
            Codec::PcmS16Le,
            Codec::Alaw,
            Codec::Mulaw,
            Codec::AdpcmSwf,
            Codec::Nellymoser,
            Codec::Speex,
        ];
        for c in audio {
            assert_eq!(Codec::from_wire(Track::Audio, c.wire_code()), Some(c));
        }
        for c in [Codec::H264, Codec::Hevc, Codec::Av1] {
            assert_eq!(Codec::from_wire(Track::Video, c.wire_code()), Some(c));
        }
        assert_eq!(Codec::from_wire(Track::Video, 3), None);
        assert_eq!(Codec::from_wire(Track::Audio, 15), None);
    }

    #[test]
    fn audio_format_round_trips_and_refuses_nonsense() {
        let f = AudioFormat {
            sample_rate: 8000,
            channels: 1,
        };
        assert_eq!(AudioFormat::parse(&f.encode()), Some(f));
        assert_eq!(AudioFormat::parse(&[0, 0, 0, 0, 1]), None);
        assert_eq!(AudioFormat::parse(&[0, 0, 0x1f, 0x40, 0]), None);
        assert_eq!(AudioFormat::parse(&[0, 0, 0x1f, 0x40]), None);
    }
}
