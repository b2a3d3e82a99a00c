//! The wire form of media packets read from NATS: never panics, and whatever
//! decodes re-encodes to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_base::MediaPacket;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = MediaPacket::decode(Bytes::copy_from_slice(data)) {
        let mut again = p.encode().to_vec();
        // The flags byte keeps the keyframe bit and the codec (bits 4..8).
        let mut orig = data.to_vec();
        orig[3] &= 0xf1;
        again[3] &= 0xf1;
        assert_eq!(again, orig);
    }
});
