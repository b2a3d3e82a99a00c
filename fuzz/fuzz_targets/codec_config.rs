//! Codec configuration parsing in the packager: avcC / hvcC / av1C records,
//! Annex B parameter sets, SPS and AV1 sequence header bit fields, AV1
//! temporal units made samples, and AAC AudioSpecificConfig. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livefleet_packager::{av1, parse_sps, AudioConfig, VideoCodec, VideoCodecConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = VideoCodecConfig::from_extradata(VideoCodec::H264, data) {
        let _ = c.codec_string();
    }
    if let Ok(c) = VideoCodecConfig::from_extradata(VideoCodec::Hevc, data) {
        let _ = c.codec_string();
    }
    if let Ok(c) = VideoCodecConfig::from_extradata(VideoCodec::Av1, data) {
        let _ = c.codec_string();
    }
    if let Ok(sample) = av1::to_sample(data) {
        assert!(sample.len() <= data.len());
    }
    let _ = parse_sps(data);
    if let Ok(a) = AudioConfig::new(bytes::Bytes::copy_from_slice(data)) {
        let _ = (a.sample_rate(), a.channels(), a.codec_string());
    }
});
