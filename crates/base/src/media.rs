//! Media packets as they travel from the ingest to a worker.
//!
//! One [`MediaPacket`] is one access unit (an H.264 picture in AVCC form:
//! 4-byte length-prefixed NAL units; one raw AAC frame; the bytes of one FLV
//! audio tag of an older codec), a codec configuration
//! (`AVCDecoderConfigurationRecord`, `AudioSpecificConfig`, an [`AudioFormat`]
//! for codecs whose frames do not say their format, nothing for MP3) or the
//! end of a publish. Timestamps are milliseconds, the RTMP clock.
//!
//! The wire form is a fixed 24-byte header followed by the payload:
//!
//! ```text
//! 0      version (1)
//! 1      kind    (0 config, 1 frame, 2 end)
//! 2      track   (0 video, 1 audio)
//! 3      flags   (bit 0: keyframe; bits 4..8: codec, 0 the track's default:
//!                 H.264 for video, AAC for audio; see [`Codec`])
//! 4..8   publish session id, big endian (changes on every new publish)
//! 8..16  dts in ms, big endian i64
//! 16..24 pts in ms, big endian i64
//! 24..   payload
//! ```

use bytes::{BufMut, Bytes, BytesMut};

#[cfg(doc)]
use crate::codec::AudioFormat;
use crate::codec::Codec;

const VERSION: u8 = 1;
/// Size of the fixed header in front of every payload.
pub const HEADER_LEN: usize = 24;

/// Which elementary stream a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio,
}

/// What a packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Codec configuration: `AVCDecoderConfigurationRecord` for video,
    /// `AudioSpecificConfig` for AAC, an [`AudioFormat`] or nothing for the
    /// older audio codecs.
    Config,
    /// One access unit.
    Frame,
    /// The publisher stopped (cleanly or not). No payload.
    End,
}

/// One unit of media on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPacket {
    pub kind: PacketKind,
    pub track: Track,
    pub keyframe: bool,
    /// The payload's codec; a configuration of another codec starts a new
    /// decoder.
    pub codec: Codec,
    /// Identifies one publish of the channel; a reconnect gets a new one.
    pub session: u32,
    pub dts_ms: i64,
    pub pts_ms: i64,
    pub data: Bytes,
}

/// A packet that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("media packet is {0} bytes, shorter than its {HEADER_LEN}-byte header")]
    Short(usize),
    #[error("media packet has version {0}, this build reads version {VERSION}")]
    Version(u8),
    #[error("media packet has unknown kind {0}")]
    Kind(u8),
    #[error("media packet has unknown track {0}")]
    Track(u8),
    #[error("media packet has unknown {track:?} codec {code}")]
    Codec { track: Track, code: u8 },
}

impl MediaPacket {
    /// Encodes the packet in its wire form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + self.data.len());
        b.put_u8(VERSION);
        b.put_u8(match self.kind {
            PacketKind::Config => 0,
            PacketKind::Frame => 1,
            PacketKind::End => 2,
        });
        b.put_u8(match self.track {
            Track::Video => 0,
            Track::Audio => 1,
        });
        b.put_u8(u8::from(self.keyframe) | self.codec.wire_code() << 4);
        b.put_u32(self.session);
        b.put_i64(self.dts_ms);
        b.put_i64(self.pts_ms);
        b.extend_from_slice(&self.data);
        b.freeze()
    }

    /// Reads a packet from its wire form. Never panics.
    pub fn decode(buf: Bytes) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(WireError::Short(buf.len()));
        }
        if buf[0] != VERSION {
            return Err(WireError::Version(buf[0]));
        }
        let kind = match buf[1] {
            0 => PacketKind::Config,
            1 => PacketKind::Frame,
            2 => PacketKind::End,
            k => return Err(WireError::Kind(k)),
        };
        let track = match buf[2] {
            0 => Track::Video,
            1 => Track::Audio,
            t => return Err(WireError::Track(t)),
        };
        let code = buf[3] >> 4;
        let codec = Codec::from_wire(track, code).ok_or(WireError::Codec { track, code })?;
        let be64 = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&buf[at..at + 8]);
            i64::from_be_bytes(a)
        };
        Ok(Self {
            kind,
            track,
            keyframe: buf[3] & 1 == 1,
            codec,
            session: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            dts_ms: be64(8),
            pts_ms: be64(16),
            data: buf.slice(HEADER_LEN..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let p = MediaPacket {
            kind: PacketKind::Frame,
            track: Track::Video,
            keyframe: true,
            codec: Codec::H264,
            session: 7,
            dts_ms: -33,
            pts_ms: 1_000_000_000_000,
            data: Bytes::from_static(b"\0\0\0\x01\x65"),
        };
        assert_eq!(MediaPacket::decode(p.encode()).unwrap(), p);
        let mp3 = MediaPacket {
            track: Track::Audio,
            codec: Codec::Mp3,
            keyframe: false,
            ..p
        };
        assert_eq!(MediaPacket::decode(mp3.encode()).unwrap(), mp3);
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(
            MediaPacket::decode(Bytes::from_static(b"abc")),
            Err(WireError::Short(3))
        );
        let mut b = vec![0u8; HEADER_LEN];
        assert_eq!(
            MediaPacket::decode(Bytes::from(b.clone())),
            Err(WireError::Version(0))
        );
        b[0] = VERSION;
        b[1] = 9;
        assert_eq!(
            MediaPacket::decode(Bytes::from(b.clone())),
            Err(WireError::Kind(9))
        );
        b[1] = 0;
        b[2] = 5;
        assert_eq!(
            MediaPacket::decode(Bytes::from(b.clone())),
            Err(WireError::Track(5))
        );
        b[2] = 0;
        b[3] = 0x31;
        assert_eq!(
            MediaPacket::decode(Bytes::from(b)),
            Err(WireError::Codec {
                track: Track::Video,
                code: 3
            })
        );
    }
}
