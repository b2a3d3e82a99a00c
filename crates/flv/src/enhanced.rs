//! Enhanced RTMP video (veovera's enhanced-rtmp v1, what OBS sends with an
//! HEVC or AV1 encoder): the first byte carries `IsExHeader`, a 3-bit frame
//! type and a 4-bit packet type, then a FourCC names the codec.
//!
//! ```text
//! [1 | frame type:3 | packet type:4] [FourCC:4] [payload]
//!   SequenceStart   hvcC (HEVCDecoderConfigurationRecord) | av1C
//!   CodedFrames     HEVC: SI24 composition time, NAL units; AV1: OBUs
//!   CodedFramesX    HEVC NAL units with a composition time of 0
//!   SequenceEnd, Metadata (HDR colour info), MPEG2TSSequenceStart: nothing to forward
//! ```
//!
//! HEVC leaves the reader as H.264 does: NAL units behind 4-byte lengths and
//! a record that says so. AV1 temporal units pass through. Multitrack and
//! ModEx (Enhanced RTMP v2) and other FourCCs are refused by name.

use bytes::{Bytes, BytesMut};
use livefleet_base::{Codec, MediaPacket, PacketKind, Track};

use crate::tag::{to_four_byte_lengths, NAL_LENGTH_SIZE};
use crate::{FlvError, HevcConfig, TagReader};

const SEQUENCE_START: u8 = 0;
const CODED_FRAMES: u8 = 1;
const SEQUENCE_END: u8 = 2;
const CODED_FRAMES_X: u8 = 3;
const METADATA: u8 = 4;
const MPEG2TS_SEQUENCE_START: u8 = 5;

/// Frame type 5: a video info / command frame, no picture.
const COMMAND_FRAME: u8 = 5;

/// Whether the first byte of an Enhanced RTMP video body starts a sequence
/// (carries the codec's configuration).
pub(crate) fn is_sequence_start(first: u8) -> bool {
    first & 0x0f == SEQUENCE_START
}

impl TagReader {
    /// Reads one Enhanced RTMP `VIDEODATA` body (its `IsExHeader` bit set).
    pub(crate) fn enhanced_video(
        &mut self,
        dts_ms: i64,
        body: Bytes,
    ) -> Result<Option<MediaPacket>, FlvError> {
        if body.len() < 5 {
            return Err(FlvError::Short {
                what: "Enhanced RTMP video tag",
                need: 5,
                have: body.len(),
            });
        }
        let frame_type = (body[0] >> 4) & 0b111;
        let packet_type = body[0] & 0x0f;
        let codec = match &body[1..5] {
            b"hvc1" => Codec::Hevc,
            b"av01" => Codec::Av1,
            fourcc => {
                return Err(FlvError::EnhancedVideo {
                    codec: if fourcc == b"vp09" { "VP9" } else { "video" },
                    fourcc: String::from_utf8_lossy(fourcc).into_owned(),
                })
            }
        };
        if packet_type > MPEG2TS_SEQUENCE_START {
            return Err(FlvError::EnhancedPacketType(packet_type));
        }
        if frame_type == COMMAND_FRAME && packet_type != METADATA {
            return Ok(None);
        }
        let payload = body.slice(5..);
        match packet_type {
            SEQUENCE_START if payload.is_empty() => Ok(None),
            SEQUENCE_START => {
                let (data, nal_length_size) = match codec {
                    Codec::Hevc => {
                        let config = HevcConfig::parse(&payload)?;
                        let data = if config.nal_length_size == NAL_LENGTH_SIZE {
                            payload
                        } else {
                            let mut record = BytesMut::from(&payload[..]);
                            record[21] |= 0b11;
                            record.freeze()
                        };
                        (data, config.nal_length_size)
                    }
                    _ => (check_av1_config(payload)?, 0),
                };
                self.video_config = Some((codec, nal_length_size));
                Ok(Some(self.packet(
                    PacketKind::Config,
                    Track::Video,
                    codec,
                    true,
                    dts_ms,
                    dts_ms,
                    data,
                )))
            }
            CODED_FRAMES | CODED_FRAMES_X => {
                let size = match self.video_config {
                    Some((c, size)) if c == codec => size,
                    _ => return Err(FlvError::FrameBeforeConfig(codec_name(codec))),
                };
                let (cts, payload) = if packet_type == CODED_FRAMES && codec == Codec::Hevc {
                    composition_time(payload)?
                } else {
                    (0, payload)
                };
                let data = match codec {
                    Codec::Hevc => to_four_byte_lengths(payload, size)?,
                    _ => payload,
                };
                if data.is_empty() {
                    return Ok(None);
                }
                Ok(Some(self.packet(
                    PacketKind::Frame,
                    Track::Video,
                    codec,
                    frame_type == 1 || frame_type == 4,
                    dts_ms,
                    dts_ms.saturating_add(cts),
                    data,
                )))
            }
            // SequenceEnd, Metadata, MPEG2TSSequenceStart (AV1's legacy
            // descriptor; the av1C sequence start is what decoders take).
            SEQUENCE_END | METADATA | MPEG2TS_SEQUENCE_START => Ok(None),
            _ => Err(FlvError::EnhancedPacketType(packet_type)),
        }
    }
}

/// The signed 24-bit composition time in front of HEVC pictures, and the rest.
fn composition_time(payload: Bytes) -> Result<(i64, Bytes), FlvError> {
    if payload.len() < 3 {
        return Err(FlvError::Short {
            what: "Enhanced RTMP HEVC picture",
            need: 3,
            have: payload.len(),
        });
    }
    let raw = (u32::from(payload[0]) << 16) | (u32::from(payload[1]) << 8) | u32::from(payload[2]);
    Ok((i64::from(((raw << 8) as i32) >> 8), payload.slice(3..)))
}

/// Checks an `AV1CodecConfigurationRecord` (the `av1C` box of the AV1 ISOBMFF
/// binding): a marker bit and version 1, then three bytes of sequence
/// header fields; configuration OBUs may follow.
fn check_av1_config(record: Bytes) -> Result<Bytes, FlvError> {
    match record.first() {
        _ if record.len() < 4 => Err(FlvError::Av1Config("shorter than its 4 bytes")),
        Some(0x81) => Ok(record),
        _ => Err(FlvError::Av1Config(
            "no marker and version 1 in its first byte",
        )),
    }
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Hevc => "HEVC",
        Codec::Av1 => "AV1",
        _ => "video",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hevc::tests::record;

    fn tag(first: u8, fourcc: &[u8; 4], payload: &[u8]) -> Bytes {
        let mut v = vec![first];
        v.extend_from_slice(fourcc);
        v.extend_from_slice(payload);
        Bytes::from(v)
    }

    #[test]
    fn reads_hevc_sequence_start_and_pictures() {
        let mut r = TagReader::new(3);
        assert!(TagReader::is_sequence_header(
            Track::Video,
            &tag(0x90, b"hvc1", &record(3))
        ));
        let c = r.video(0, tag(0x90, b"hvc1", &record(3))).unwrap().unwrap();
        assert_eq!(
            (c.kind, c.codec, c.session, &c.data[..]),
            (PacketKind::Config, Codec::Hevc, 3, &record(3)[..])
        );
        // CodedFrames, a keyframe with a composition time of 66 ms.
        let nal = [0, 0, 0, 3, 0x26, 0x01, 0xaf];
        let mut payload = vec![0, 0, 66];
        payload.extend_from_slice(&nal);
        let f = r.video(40, tag(0x91, b"hvc1", &payload)).unwrap().unwrap();
        assert_eq!((f.codec, f.keyframe), (Codec::Hevc, true));
        assert_eq!((f.dts_ms, f.pts_ms, &f.data[..]), (40, 106, &nal[..]));
        assert!(!TagReader::is_sequence_header(Track::Video, &payload));
        // CodedFramesX, an inter frame: no composition time.
        let f = r.video(73, tag(0xa3, b"hvc1", &nal)).unwrap().unwrap();
        assert_eq!((f.keyframe, f.pts_ms), (false, 73));
        // SequenceEnd, Metadata and a command frame carry nothing.
        for first in [0x92, 0x94, 0xd1] {
            assert_eq!(r.video(80, tag(first, b"hvc1", &[])), Ok(None));
        }
    }

    #[test]
    fn short_hevc_nal_lengths_leave_as_four_bytes() {
        let mut r = TagReader::new(1);
        let c = r.video(0, tag(0x90, b"hvc1", &record(1))).unwrap().unwrap();
        assert_eq!(HevcConfig::parse(&c.data).unwrap().nal_length_size, 4);
        let f = r
            .video(0, tag(0x93, b"hvc1", &[0, 2, 0x26, 1, 0, 1, 0x4e]))
            .unwrap()
            .unwrap();
        assert_eq!(&f.data[..], &[0, 0, 0, 2, 0x26, 1, 0, 0, 0, 1, 0x4e]);
    }

    #[test]
    fn reads_av1_sequence_start_and_temporal_units() {
        let mut r = TagReader::new(1);
        let av1c = [0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00];
        let c = r.video(0, tag(0x90, b"av01", &av1c)).unwrap().unwrap();
        assert_eq!((c.codec, &c.data[..]), (Codec::Av1, &av1c[..]));
        // AV1's CodedFrames have no composition time.
        let obus = [0x12, 0x00, 0x32, 0x01, 0x10];
        let f = r.video(33, tag(0x91, b"av01", &obus)).unwrap().unwrap();
        assert_eq!((f.keyframe, f.pts_ms, &f.data[..]), (true, 33, &obus[..]));
    }

    #[test]
    fn refuses_what_it_cannot_read_by_name() {
        let mut r = TagReader::new(1);
        // A picture before its sequence start, or of another codec than it.
        assert_eq!(
            r.video(0, tag(0x93, b"hvc1", &[0, 0, 0, 1, 0x26])),
            Err(FlvError::FrameBeforeConfig("HEVC"))
        );
        r.video(0, tag(0x90, b"hvc1", &record(3))).unwrap();
        assert_eq!(
            r.video(0, tag(0x91, b"av01", &[0x12, 0])),
            Err(FlvError::FrameBeforeConfig("AV1"))
        );
        assert!(matches!(
            r.video(0, tag(0x93, b"hvc1", &[0, 0, 0, 9, 0x26])),
            Err(FlvError::NalLength { claimed: 9, .. })
        ));
        assert!(matches!(
            r.video(0, tag(0x91, b"hvc1", &[0, 0])),
            Err(FlvError::Short { need: 3, .. })
        ));
        assert!(matches!(
            r.video(0, tag(0x90, b"hvc1", &[1, 2, 3])),
            Err(FlvError::HevcConfig(_))
        ));
        assert!(matches!(
            r.video(0, tag(0x90, b"av01", &[0x01, 0, 0, 0])),
            Err(FlvError::Av1Config(_))
        ));
        // Enhanced RTMP v2 multitrack; a body too short for its FourCC.
        assert_eq!(
            r.video(0, tag(0x96, b"hvc1", &[])),
            Err(FlvError::EnhancedPacketType(6))
        );
        assert!(matches!(
            r.video(0, Bytes::from_static(&[0x90, b'h'])),
            Err(FlvError::Short { need: 5, .. })
        ));
    }
}
