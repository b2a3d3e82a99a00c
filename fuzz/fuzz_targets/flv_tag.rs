//! FLV tag bodies from a publisher (legacy and Enhanced RTMP): never panics;
//! configs are checked records (or formats the reader made), H.264 and HEVC
//! frames are well-formed 4-byte length-prefixed NAL units.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_base::{AudioFormat, Codec, PacketKind, Track};
use livefleet_flv::{AacConfig, AvcConfig, HevcConfig, TagReader};

fuzz_target!(|data: &[u8]| {
    let mut reader = TagReader::new(7);
    // Split the input into tags: [track byte][len byte][body...]...
    let mut rest = data;
    let mut dts = 0i64;
    while rest.len() >= 2 {
        let (head, tail) = rest.split_at(2);
        let len = usize::from(head[1]).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        dts += 10;
        let body = Bytes::copy_from_slice(body);
        let packets = if head[0] & 1 == 0 {
            reader.video(dts, body).map(|p| p.into_iter().collect())
        } else {
            reader.audio(dts, body)
        };
        let Ok(packets) = packets else { continue };
        for p in packets {
            assert_eq!(p.session, 7);
            assert_eq!(p.dts_ms, dts);
            match (p.kind, p.track) {
                (PacketKind::Config, Track::Video) if p.codec == Codec::H264 => {
                    let c = AvcConfig::parse(&p.data).expect("forwarded avcC parses");
                    assert_eq!(c.nal_length_size, 4);
                }
                (PacketKind::Config, Track::Video) if p.codec == Codec::Hevc => {
                    let c = HevcConfig::parse(&p.data).expect("forwarded hvcC parses");
                    assert_eq!(c.nal_length_size, 4);
                }
                (PacketKind::Config, Track::Video) => {
                    assert_eq!(p.codec, Codec::Av1);
                    assert!(p.data.len() >= 4 && p.data[0] == 0x81, "av1C");
                }
                (PacketKind::Frame, Track::Video) if p.codec == Codec::Av1 => {
                    assert!(!p.data.is_empty());
                }
                (PacketKind::Config, Track::Audio) if p.codec == Codec::Aac => {
                    AacConfig::parse(&p.data).expect("forwarded AudioSpecificConfig parses");
                }
                (PacketKind::Config, Track::Audio) if p.codec == Codec::Mp3 => {
                    assert!(p.data.is_empty(), "MP3 says its format in its frames");
                }
                (PacketKind::Config, Track::Audio) => {
                    AudioFormat::parse(&p.data).expect("forwarded audio format parses");
                }
                (PacketKind::Frame, Track::Video) => {
                    let mut at = 0usize;
                    while at < p.data.len() {
                        let len =
                            u32::from_be_bytes(p.data[at..at + 4].try_into().unwrap()) as usize;
                        assert!(len > 0);
                        at += 4 + len;
                    }
                    assert_eq!(at, p.data.len());
                }
                (PacketKind::Frame, Track::Audio) => assert!(!p.data.is_empty()),
                (PacketKind::End, _) => panic!("the reader never ends a publish"),
            }
        }
    }
});
