use super::scalars::parse_bitrate;
use super::*;

#[test]
fn bitrates() {
    assert_eq!(parse_bitrate("128k"), Some(128_000));
    assert_eq!(parse_bitrate("6M"), Some(6_000_000));
    assert_eq!(parse_bitrate("1.5M"), Some(1_500_000));
    assert_eq!(parse_bitrate("800000"), Some(800_000));
    assert_eq!(parse_bitrate("64 k"), Some(64_000));
    for bad in [
        "",
        "k",
        "-5k",
        "1e3k",
        "5G",
        "1..2k",
        ".5M",
        "5.M",
        "99999999999999999999k",
    ] {
        assert_eq!(parse_bitrate(bad), None, "{bad}");
    }
}

#[test]
fn suggestions() {
    assert_eq!(suggest("bitrat", VIDEO_KEYS), Some("bitrate"));
    assert_eq!(suggest("maxBitrate", VIDEO_KEYS), Some("max_bitrate"));
    assert_eq!(
        suggest("segment-duration", PROFILE_KEYS),
        Some("segment_duration")
    );
    assert_eq!(suggest("colour", VIDEO_KEYS), None);
}
