//! Messages a scheduler and a worker read from the bus: heartbeats,
//! placement requests, and the archive records the webhooks and the admin
//! API read. Never panics; accepted heartbeats round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livefleet_fleet::{Heartbeat, PlaceRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(hb) = Heartbeat::decode(data) {
        let again = Heartbeat::decode(&hb.encode()).expect("an accepted heartbeat re-encodes");
        assert_eq!(again.worker, hb.worker);
        let _ = hb.channel_load();
    }
    let _ = serde_json::from_slice::<PlaceRequest>(data);
    if let Ok(record) = serde_json::from_slice::<livefleet_bus::ArchivedBroadcast>(data) {
        let _ = (record.is_open(), record.first_number());
    }
});
