//! AVC decoder configuration records: never panics, and whatever parses
//! writes back to the same record (with the same NAL length size).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_flv::AvcConfig;

fuzz_target!(|data: &[u8]| {
    let record = Bytes::copy_from_slice(data);
    if let Ok(c) = AvcConfig::parse(&record) {
        assert!(matches!(c.nal_length_size, 1 | 2 | 4));
        let again = c.to_record(c.nal_length_size);
        let parsed = AvcConfig::parse(&again).expect("written record parses");
        assert_eq!(parsed, c);
        // Byte-exact apart from the reserved bits and the SPS count's reserved bits.
        assert_eq!(again.len(), record.len());
        let _ = c.codec_string();
    }
});
