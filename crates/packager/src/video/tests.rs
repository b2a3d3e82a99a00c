use super::hevc::hevc_codec_string;
use super::*;

// Parameter sets for 640x360 as libx264 and libx265 write them.
pub(crate) const SPS_640X360: [u8; 25] = [
    0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04,
    0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xba, 0x80,
];
pub(crate) const PPS: [u8; 4] = [0x68, 0xce, 0x0f, 0xc8];
pub(crate) const HEVC_PARAMETER_SETS: [&[u8]; 3] = [
    &[
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0x95, 0x98, 0x09,
    ],
    &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x9a, 0x49, 0x32, 0xbc, 0x05,
        0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
    ],
    &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40],
];

#[test]
fn hevc_from_parameter_sets() {
    let mut annexb = Vec::new();
    for n in HEVC_PARAMETER_SETS {
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(n);
    }
    let c = VideoCodecConfig::from_extradata(VideoCodec::Hevc, &annexb).unwrap();
    assert_eq!(c.codec_string(), "hvc1.1.6.L63.90");
    assert_eq!((c.sps().width, c.sps().height), (640, 360));
    let VideoCodecConfig::Hevc { hvcc, .. } = &c else {
        panic!()
    };
    assert_eq!(
        VideoCodecConfig::from_extradata(VideoCodec::Hevc, hvcc).unwrap(),
        c
    );
}

#[test]
fn sps_of_a_cropped_picture() {
    let info = parse_sps(&SPS_640X360).unwrap();
    assert_eq!(
        (info.profile, info.level, info.width, info.height),
        (66, 30, 640, 360)
    );
}

#[test]
fn avcc_from_parameter_sets() {
    let mut annexb = vec![0, 0, 0, 1];
    annexb.extend_from_slice(&SPS_640X360);
    annexb.extend_from_slice(&[0, 0, 0, 1]);
    annexb.extend_from_slice(&PPS);
    let c = VideoCodecConfig::from_extradata(VideoCodec::H264, &annexb).unwrap();
    assert_eq!(c.codec_string(), "avc1.42c01e");
    let VideoCodecConfig::Avc { avcc, .. } = &c else {
        panic!()
    };
    // The record round-trips through the avcC path too.
    let again = VideoCodecConfig::from_extradata(VideoCodec::H264, avcc).unwrap();
    assert_eq!(again, c);
}

#[test]
fn huge_exp_golomb_values_do_not_overflow() {
    // Found by the codec_config fuzz target: a bit depth of u32::MAX - 8.
    let mut nal = vec![0x27, 0x87, 0x8d, 0x00, 0x3b, 0, 0, 0, 1];
    nal.extend([0xff; 100]);
    assert!(parse_sps(&nal).is_err());
}

#[test]
fn lying_records_are_refused() {
    assert!(VideoCodecConfig::from_extradata(VideoCodec::H264, &[]).is_err());
    assert!(VideoCodecConfig::from_extradata(
        VideoCodec::H264,
        &[1, 0x64, 0, 0x1e, 0xff, 0xe1, 0xff, 0xff, 0x67]
    )
    .is_err());
    assert!(VideoCodecConfig::from_extradata(VideoCodec::H264, &[0, 0, 1, 0x68, 1]).is_err());
    assert!(VideoCodecConfig::from_extradata(VideoCodec::Hevc, &[1; 30]).is_err());
}

#[test]
fn hevc_codec_string_main_profile() {
    // Main profile, compat flags 1 and 2, level 3.1 (93), progressive-source constraint.
    let ptl = [0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
    assert_eq!(hevc_codec_string(&ptl), "hvc1.1.6.L93.90");
}
