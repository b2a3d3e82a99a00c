//! Codec configuration parsing in the packager: avcC / hvcC records, Annex B
//! parameter sets, SPS bit fields and AAC AudioSpecificConfig. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livefleet_packager::{parse_sps, AudioConfig, VideoCodec, VideoCodecConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = VideoCodecConfig::from_extradata(VideoCodec::H264, data) {
        let _ = c.codec_string();
    }
    if let Ok(c) = VideoCodecConfig::from_extradata(VideoCodec::Hevc, data) {
        let _ = c.codec_string();
    }
    let _ = parse_sps(data);
    if let Ok(a) = AudioConfig::new(bytes::Bytes::copy_from_slice(data)) {
        let _ = (a.sample_rate(), a.channels(), a.codec_string());
    }
});
