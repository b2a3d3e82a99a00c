//! FLV tag bodies from a publisher: never panics; configs are checked
//! records, frames are well-formed 4-byte length-prefixed NAL units.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_base::{PacketKind, Track};
use livefleet_flv::{AacConfig, AvcConfig, TagReader};

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
        let packet = if head[0] & 1 == 0 {
            reader.video(dts, body)
        } else {
            reader.audio(dts, body)
        };
        let Ok(Some(p)) = packet else { continue };
        assert_eq!(p.session, 7);
        assert_eq!(p.dts_ms, dts);
        match (p.kind, p.track) {
            (PacketKind::Config, Track::Video) => {
                let c = AvcConfig::parse(&p.data).expect("forwarded avcC parses");
                assert_eq!(c.nal_length_size, 4);
            }
            (PacketKind::Config, Track::Audio) => {
                AacConfig::parse(&p.data).expect("forwarded AudioSpecificConfig parses");
            }
            (PacketKind::Frame, Track::Video) => {
                let mut at = 0usize;
                while at < p.data.len() {
                    let len = u32::from_be_bytes(p.data[at..at + 4].try_into().unwrap()) as usize;
                    assert!(len > 0);
                    at += 4 + len;
                }
                assert_eq!(at, p.data.len());
            }
            (PacketKind::Frame, Track::Audio) => assert!(!p.data.is_empty()),
            (PacketKind::End, _) => panic!("the reader never ends a publish"),
        }
    }
});
