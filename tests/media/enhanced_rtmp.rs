//! Publishers that speak Enhanced RTMP (OBS with an HEVC or AV1 encoder):
//! the worker decodes their video and encodes the profile's H.264 ladder; a
//! passthrough copies HEVC as HEVC. The publisher is the tests' own
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

#[test]
fn an_hevc_publish_is_transcoded_to_h264_and_copied_as_hevc() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("hevc.mp4");
    make_clip_with(&source, 6, &HEVC);
    let dev = passthrough_dev("hevc", tmp.path());
    publish_enhanced(&dev.publish_url, &source).unwrap();
    let dir = wait_for_the_end(&dev, "source");
    check_presentation(&dir, &["source", "240p"], "audio", 2.0, 2);
    let codec = |rendition: &str| {
        let (_, codec) = probe_last_segment(&dir.join(rendition), "stream=codec_name,width");
        codec
    };
    assert_eq!(codec("source"), "hevc,640");
    assert_eq!(codec("240p"), "h264,426");
    let master = fs::read_to_string(dir.join("master.m3u8")).unwrap();
    assert!(master.contains("CODECS=\"hvc1."), "{master}");
    // Every segment of the whole presentation decodes, audio included.
    for playlist in ["source/index.m3u8", "240p/index.m3u8", "audio/index.m3u8"] {
        let errors = decode_errors(&dir.join(playlist));
        assert!(errors.trim().is_empty(), "{playlist}: {errors}");
    }
    assert!(probed_seconds(&dir.join("240p/index.m3u8")) > 5.0);
}

#[test]
fn an_av1_publish_is_transcoded_to_h264() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("av1.mp4");
    make_clip_with(
        &source,
        6,
        &["-c:v", "libsvtav1", "-preset", "12", "-g", "60"],
    );
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

/// An AV1 publish on a profile whose passthrough copies only H.264 and
/// HEVC: the worker cannot run the session, so the publisher is told (an
/// RTMP error status, as OBS shows one) instead of streaming into nothing.
#[test]
fn a_publish_the_worker_gives_up_on_is_ended_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("av1.mp4");
    make_clip_with(
        &source,
        20,
        &["-c:v", "libsvtav1", "-preset", "12", "-g", "60"],
    );
    let dev = passthrough_dev("av1copy", tmp.path());
    let started = std::time::Instant::now();
    let refused = publish_enhanced(&dev.publish_url, &source).unwrap_err();
    assert!(refused.contains("NetStream.Publish.Denied"), "{refused}");
    // Told while the 20 s clip still had most of its way to go.
    assert!(started.elapsed().as_secs() < 12, "{:?}", started.elapsed());
    let log = dev.log();
    assert!(
        log.contains("publish ended: the worker stopped transcoding this publish")
            && log.contains("passthrough copies H.264 or HEVC; this source is AV1"),
        "{log}"
    );
    let (_, _, metrics) = http_get(&format!("{}/metrics", dev.http));
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("livefleet_ingest_publishes_total{result=\"ended_by_worker\"} 1"),
        "{metrics}"
    );
}
