//! Publishers that speak Enhanced RTMP (OBS with an HEVC or AV1 encoder):
//! the worker decodes their video and encodes the profile's H.264 ladder; a
//! passthrough copies HEVC as HEVC and AV1 as AV1. The publisher is the tests' own
//! (`common::enhanced_rtmp`), as no publisher on this machine speaks it.

use super::*;
use common::enhanced_rtmp::publish_enhanced;

/// Waits for the end of the broadcast: ENDLIST in the rendition's playlist.
fn wait_for_the_end(dev: &Dev, rendition: &str) -> std::path::PathBuf {
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join(rendition).join("index.m3u8"))
            .is_ok_and(|t| t.contains("ENDLIST"))
    });
    dir
}

/// Publishes a clip made with `encoder` under the passthrough profile: the
/// copy is `codec` (its master CODECS starting `tag`), the 240p rung H.264,
/// and every segment of the presentation decodes.
fn copied_and_transcoded(channel: &str, encoder: &[&str], codec: &str, tag: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source.mp4");
    make_clip_with(&source, 6, encoder);
    let dev = passthrough_dev(channel, tmp.path());
    publish_enhanced(&dev.publish_url, &source).unwrap();
    let dir = wait_for_the_end(&dev, "source");
    check_presentation(&dir, &["source", "240p"], "audio", 2.0, 2);
    let probed = |rendition: &str| {
        let (_, codec) = probe_last_segment(&dir.join(rendition), "stream=codec_name,width");
        codec
    };
    assert_eq!(probed("source"), format!("{codec},640"));
    assert_eq!(probed("240p"), "h264,426");
    let master = fs::read_to_string(dir.join("master.m3u8")).unwrap();
    assert!(master.contains(&format!("CODECS=\"{tag}")), "{master}");
    // Every segment of the whole presentation decodes, audio included.
    for playlist in ["source/index.m3u8", "240p/index.m3u8", "audio/index.m3u8"] {
        let errors = decode_errors(&dir.join(playlist));
        assert!(errors.trim().is_empty(), "{playlist}: {errors}");
    }
    assert!(probed_seconds(&dir.join("240p/index.m3u8")) > 5.0);
    assert!(probed_seconds(&dir.join("source/index.m3u8")) > 5.0);
}

#[test]
fn an_hevc_publish_is_transcoded_to_h264_and_copied_as_hevc() {
    copied_and_transcoded("hevc", &HEVC, "hevc", "hvc1.");
}

/// OBS's AV1 encoders publish AV1 over Enhanced RTMP; the passthrough keeps
/// it as AV1 (`av01`, av1C from the publish's sequence start).
#[test]
fn an_av1_publish_is_transcoded_to_h264_and_copied_as_av1() {
    copied_and_transcoded("av1copy", &AV1, "av1", "av01.0.");
}

#[test]
fn an_av1_publish_is_transcoded_to_h264() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("av1.mp4");
    make_clip_with(&source, 6, &AV1);
    let dev = Dev::start(
        "av1",
        &[
            "--grace",
            "8",
            "--profile",
            profile("cpu-small.yaml").to_str().unwrap(),
        ],
    );
    publish_enhanced(&dev.publish_url, &source).unwrap();
    let dir = wait_for_the_end(&dev, "360p");
    check_presentation(&dir, &["360p", "240p"], "audio", 2.0, 2);
    let (_, codec) = probe_last_segment(&dir.join("360p"), "stream=codec_name,width");
    assert_eq!(codec, "h264,640");
    assert!(probed_seconds(&dir.join("360p/index.m3u8")) > 5.0);
}
