//! Media messages as a worker reads them from NATS: a batch of packets (or
//! one packet) is taken apart without panicking, every packet in it decodes
//! or is refused, and a batch that reads back is packed to the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_base::MediaPacket;
use livefleet_bus::batch::{pack, unpack, BATCH_TAG};

fuzz_target!(|data: &[u8]| {
    let message = Bytes::copy_from_slice(data);
    let Ok(packets) = unpack(message.clone()) else {
        return;
    };
    assert!(!packets.is_empty());
    for p in &packets {
        let _ = MediaPacket::decode(p.clone());
    }
    if data.first() == Some(&BATCH_TAG) && packets.len() > 1 {
        assert_eq!(pack(&packets), message);
    }
});
