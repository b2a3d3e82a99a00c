//! Messages a scheduler and a worker read from the bus: heartbeats and
//! placement requests. Never panics; accepted heartbeats round-trip.
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
});
