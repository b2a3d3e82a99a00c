//! Ladder profiles arrive as uploads: reading any UTF-8 text never panics,
//! and whatever is accepted writes back to YAML that reads to an equal profile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livefleet_profile::LadderProfile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match LadderProfile::from_yaml("fuzz", text) {
        Ok(profile) => {
            let yaml = profile.to_yaml().expect("a checked profile writes as YAML");
            let again = LadderProfile::from_yaml("fuzz", &yaml)
                .unwrap_or_else(|e| panic!("written profile does not read back: {e}\n{yaml}"));
            assert_eq!(again, profile, "{yaml}");
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
