//! FLV `VIDEODATA` and `AUDIODATA` bodies to media packets.

use bytes::{BufMut, Bytes, BytesMut};
use livefleet_base::{Codec, MediaPacket, PacketKind, Track};

use crate::{AvcConfig, FlvError};

/// Every H.264 frame leaves the reader with NAL units behind 4-byte lengths,
/// and the configuration record it forwards says so.
pub const NAL_LENGTH_SIZE: u8 = 4;

const AVC: u8 = 7;

/// Reads the tag bodies of one publish. It remembers the codec and NAL
/// length size of the last video sequence header, which pictures need.
#[derive(Debug, Clone)]
pub struct TagReader {
    session: u32,
    /// The codec of the last video sequence header and its NAL length size
    /// (0 for AV1, whose pictures are OBUs).
    pub(crate) video_config: Option<(Codec, u8)>,
    /// The last audio configuration forwarded for a codec whose tags carry
    /// none (MP3, PCM, ...): a new one goes out when the tags' format changes.
    pub(crate) audio_format: Option<(Codec, Bytes)>,
}

impl TagReader {
    /// A reader whose packets carry the publish `session` id.
    pub fn new(session: u32) -> Self {
        Self {
            session,
            video_config: None,
            audio_format: None,
        }
    }

    /// The publish session id stamped on every packet.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// Whether a `VIDEODATA` (`track` video) or `AUDIODATA` body is a
    /// sequence header (AVC, Enhanced RTMP's sequence start, AAC): a codec
    /// configuration, not media.
    pub fn is_sequence_header(track: livefleet_base::Track, body: &[u8]) -> bool {
        match (track, body) {
            (livefleet_base::Track::Video, [first, ..]) if first & 0x80 != 0 => {
                crate::enhanced::is_sequence_start(*first)
            }
            (livefleet_base::Track::Video, [first, 0, ..]) => first & 0x0f == AVC,
            (livefleet_base::Track::Audio, [first, 0, ..]) => first >> 4 == crate::audio::AAC,
            _ => false,
        }
    }

    /// Reads one `VIDEODATA` body received at `dts_ms`. `Ok(None)` for
    /// bodies that carry nothing to forward (end of sequence, command frames,
    /// empty pictures).
    pub fn video(&mut self, dts_ms: i64, body: Bytes) -> Result<Option<MediaPacket>, FlvError> {
        let Some(&first) = body.first() else {
            return Err(FlvError::Empty("video"));
        };
        if first & 0x80 != 0 {
            return self.enhanced_video(dts_ms, body);
        }
        let frame_type = first >> 4;
        let codec = first & 0x0f;
        if codec != AVC {
            return Err(FlvError::UnsupportedVideo {
                id: codec,
                name: video_codec_name(codec),
            });
        }
        if frame_type == 5 {
            // Video info / command frame: no picture.
            return Ok(None);
        }
        if body.len() < 5 {
            return Err(FlvError::Short {
                what: "AVC video tag",
                need: 5,
                have: body.len(),
            });
        }
        let raw_cts = (u32::from(body[2]) << 16) | (u32::from(body[3]) << 8) | u32::from(body[4]);
        // Sign-extend the 24-bit composition time offset.
        let cts = i64::from(((raw_cts << 8) as i32) >> 8);
        let payload = body.slice(5..);
        match body[1] {
            0 if payload.is_empty() => {
                // FFmpeg's tee muxer (and others writing before the encoder has
                // its configuration) sends an empty sequence header first; the
                // real one follows with the first frame.
                Ok(None)
            }
            0 => {
                let config = AvcConfig::parse(&payload)?;
                self.video_config = Some((Codec::H264, config.nal_length_size));
                let data = if config.nal_length_size == NAL_LENGTH_SIZE {
                    payload
                } else {
                    let mut record = BytesMut::from(&payload[..]);
                    record[4] |= 0b11;
                    record.freeze()
                };
                Ok(Some(self.packet(
                    PacketKind::Config,
                    Track::Video,
                    Codec::H264,
                    true,
                    dts_ms,
                    dts_ms,
                    data,
                )))
            }
            1 => {
                let size = match self.video_config {
                    Some((Codec::H264, size)) => size,
                    _ => return Err(FlvError::FrameBeforeConfig("H.264")),
                };
                let data = to_four_byte_lengths(payload, size)?;
                if data.is_empty() {
                    return Ok(None);
                }
                let keyframe = frame_type == 1 || frame_type == 4;
                Ok(Some(self.packet(
                    PacketKind::Frame,
                    Track::Video,
                    Codec::H264,
                    keyframe,
                    dts_ms,
                    dts_ms.saturating_add(cts),
                    data,
                )))
            }
            2 => Ok(None),
            t => Err(FlvError::AvcPacketType(t)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn packet(
        &self,
        kind: PacketKind,
        track: Track,
        codec: Codec,
        keyframe: bool,
        dts_ms: i64,
        pts_ms: i64,
        data: Bytes,
    ) -> MediaPacket {
        MediaPacket {
            kind,
            track,
            keyframe,
            codec,
            session: self.session,
            dts_ms,
            pts_ms,
            data,
        }
    }
}

/// Checks the NAL lengths of one picture and rewrites them to 4 bytes when
/// the stream uses another size. Zero-length NAL units are dropped.
pub(crate) fn to_four_byte_lengths(payload: Bytes, size: u8) -> Result<Bytes, FlvError> {
    let size = usize::from(size);
    let mut at = 0;
    let mut units = Vec::new();
    let mut needs_copy = size != usize::from(NAL_LENGTH_SIZE);
    while at < payload.len() {
        let available = payload.len() - at;
        if available < size {
            return Err(FlvError::NalLength {
                offset: at,
                claimed: size,
                available,
            });
        }
        let len = payload[at..at + size]
            .iter()
            .fold(0usize, |v, b| (v << 8) | usize::from(*b));
        at += size;
        let available = available - size;
        if len > available {
            return Err(FlvError::NalLength {
                offset: at,
                claimed: len,
                available,
            });
        }
        if len == 0 {
            needs_copy = true;
        } else {
            units.push(at..at + len);
        }
        at += len;
    }
    if !needs_copy {
        return Ok(payload);
    }
    let total: usize = units.iter().map(|r| 4 + r.len()).sum();
    let mut out = BytesMut::with_capacity(total);
    for r in units {
        // A NAL unit inside a 16 MiB RTMP message fits in 32 bits.
        out.put_u32(r.len() as u32);
        out.extend_from_slice(&payload[r]);
    }
    Ok(out.freeze())
}

fn video_codec_name(id: u8) -> &'static str {
    match id {
        1 => "JPEG",
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen video v2",
        12 => "HEVC (non-standard FLV codec id 12)",
        13 => "AV1 (non-standard FLV codec id 13)",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(length_size_minus_one: u8) -> Vec<u8> {
        let mut v = vec![
            1,
            0x64,
            0x00,
            0x1e,
            0xfc | length_size_minus_one,
            0xe1,
            0x00,
            0x04,
        ];
        v.extend_from_slice(&[0x67, 0x64, 0x00, 0x1e, 0x01, 0x00, 0x03, 0x68, 0xeb, 0xe3]);
        v
    }

    fn tag(head: &[u8], body: &[u8]) -> Bytes {
        let mut v = head.to_vec();
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    #[test]
    fn reads_h264_config_and_frames() {
        let mut r = TagReader::new(9);
        let c = r
            .video(0, tag(&[0x17, 0, 0, 0, 0], &record(3)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.kind, c.track, c.session),
            (PacketKind::Config, Track::Video, 9)
        );
        assert_eq!(&c.data[..], &record(3)[..]);

        let nal = [0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 1, 0x06];
        let f = r
            .video(40, tag(&[0x17, 1, 0, 0, 80], &nal))
            .unwrap()
            .unwrap();
        assert!(f.keyframe);
        assert_eq!((f.dts_ms, f.pts_ms), (40, 120));
        assert_eq!(&f.data[..], &nal[..]);

        // Negative composition time: -33 as signed 24 bits.
        let f = r
            .video(80, tag(&[0x27, 1, 0xff, 0xff, 0xdf], &nal))
            .unwrap()
            .unwrap();
        assert!(!f.keyframe);
        assert_eq!(f.pts_ms, 47);

        assert_eq!(r.video(90, tag(&[0x17, 2, 0, 0, 0], &[])).unwrap(), None);
    }

    #[test]
    fn rewrites_short_nal_lengths_to_four_bytes() {
        let mut r = TagReader::new(1);
        let c = r
            .video(0, tag(&[0x17, 0, 0, 0, 0], &record(1)))
            .unwrap()
            .unwrap();
        assert_eq!(AvcConfig::parse(&c.data).unwrap().nal_length_size, 4);
        let f = r
            .video(
                0,
                tag(&[0x17, 1, 0, 0, 0], &[0, 2, 0x65, 7, 0, 0, 0, 1, 0x06]),
            )
            .unwrap();
        assert_eq!(
            &f.unwrap().data[..],
            &[0, 0, 0, 2, 0x65, 7, 0, 0, 0, 1, 0x06]
        );
    }

    #[test]
    fn refuses_lying_nal_lengths_and_config() {
        let mut r = TagReader::new(1);
        assert_eq!(
            r.video(0, tag(&[0x17, 1, 0, 0, 0], &[0, 0, 0, 1, 0x65])),
            Err(FlvError::FrameBeforeConfig("H.264"))
        );
        r.video(0, tag(&[0x17, 0, 0, 0, 0], &record(3))).unwrap();
        assert!(matches!(
            r.video(0, tag(&[0x17, 1, 0, 0, 0], &[0, 0, 0, 9, 0x65])),
            Err(FlvError::NalLength {
                claimed: 9,
                available: 1,
                ..
            })
        ));
        let mut lying = record(3);
        lying[7] = 200;
        assert!(matches!(
            r.video(0, tag(&[0x17, 0, 0, 0, 0], &lying)),
            Err(FlvError::AvcConfig(_))
        ));
    }

    #[test]
    fn refuses_other_codecs_by_name() {
        let mut r = TagReader::new(1);
        let e = r
            .video(0, tag(&[0x90, b'v', b'p', b'0', b'9'], &[]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Enhanced RTMP VP9 (FourCC \"vp09\") is not supported; publish H.264, HEVC or AV1"
        );
        let e = r.video(0, Bytes::from_static(&[0x12, 0])).unwrap_err();
        assert!(e.to_string().contains("Sorenson H.263"), "{e}");
        assert_eq!(r.video(0, Bytes::new()), Err(FlvError::Empty("video")));
    }

    #[test]
    fn empty_sequence_headers_wait_for_the_real_ones() {
        let mut r = TagReader::new(1);
        let empty_avc = Bytes::from_static(&[0x17, 0, 0, 0, 0]);
        assert!(matches!(r.video(0, empty_avc), Ok(None)));
        let empty_aac = Bytes::from_static(&[0xaf, 0]);
        assert_eq!(r.audio(0, empty_aac), Ok(Vec::new()));
    }
}
