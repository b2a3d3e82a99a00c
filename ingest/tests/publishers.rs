//! Real publishers (ffmpeg, GStreamer) against the ingest.

mod common;

use common::{ffmpeg_publish, finish, TestIngest, PATIENCE};
use livefleet_base::{MediaPacket, PacketKind, Track};
use livefleet_flv::{AacConfig, AvcConfig};
use livefleet_ingest::IngestConfig;
use tokio::process::Command;

/// Checks one complete publish: configs, well-formed frames, monotonic dts,
/// one session, End last. Returns the video frames.
fn check_publish(packets: &[MediaPacket]) -> Vec<&MediaPacket> {
    let session = packets[0].session;
    assert!(
        packets.iter().all(|p| p.session == session),
        "one session id per publish"
    );
    let (end, media) = packets.split_last().unwrap();
    assert_eq!(end.kind, PacketKind::End);

    let video_config = media
        .iter()
        .find(|p| p.kind == PacketKind::Config && p.track == Track::Video)
        .expect("video config");
    let avc = AvcConfig::parse(&video_config.data).expect("valid avcC");
    assert_eq!(avc.nal_length_size, 4);
    assert_eq!((avc.sps.len(), avc.pps.len()), (1, 1));
    let audio_config = media
        .iter()
        .find(|p| p.kind == PacketKind::Config && p.track == Track::Audio)
        .expect("audio config");
    let aac = AacConfig::parse(&audio_config.data).expect("valid AudioSpecificConfig");
    assert_eq!(aac.object_type, 2);

    for track in [Track::Video, Track::Audio] {
        let frames: Vec<_> = media
            .iter()
            .filter(|p| p.kind == PacketKind::Frame && p.track == track)
            .collect();
        assert!(!frames.is_empty(), "{track:?} frames");
        assert!(
            frames.windows(2).all(|w| w[0].dts_ms <= w[1].dts_ms),
            "{track:?} dts monotonic"
        );
    }
    let video: Vec<_> = media
        .iter()
        .filter(|p| p.kind == PacketKind::Frame && p.track == Track::Video)
        .collect();
    for f in &video {
        let mut at = 0;
        while at < f.data.len() {
            let len = u32::from_be_bytes(f.data[at..at + 4].try_into().unwrap()) as usize;
            assert!(len > 0);
            at += 4 + len;
        }
        assert_eq!(at, f.data.len(), "NAL lengths add up");
    }
    assert!(video[0].keyframe, "the first picture is a keyframe");
    video
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish_arrives_as_packets() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    let ffmpeg = ffmpeg_publish(&ingest.url("secret"), 3);
    let packets = ingest.until_end("demo", &mut Vec::new()).await;
    let (ok, stderr) = finish(ffmpeg).await;
    assert!(ok, "ffmpeg failed: {stderr}");

    let video = check_publish(&packets);
    assert!(video.len() >= 80, "3 s at 30 fps, got {}", video.len());
    // Keyframes every 2 s of media time (GOP 60 at 30 fps).
    let keys: Vec<i64> = video
        .iter()
        .filter(|f| f.keyframe)
        .map(|f| f.dts_ms)
        .collect();
    assert_eq!(keys.len(), 2, "keyframes at {keys:?}");
    assert!(
        (1_900..=2_100).contains(&(keys[1] - keys[0])),
        "keyframes at {keys:?}"
    );
    // B-frames: presentation never before decode, and some pictures reordered.
    assert!(video.iter().all(|f| f.pts_ms >= f.dts_ms));
    assert!(
        video.iter().any(|f| f.pts_ms > f.dts_ms),
        "B-frames expected"
    );

    assert_eq!(
        ingest
            .metrics
            .publishes
            .with_label_values(&["accepted"])
            .get(),
        1
    );
    assert!(ingest.metrics.packets.with_label_values(&["video"]).get() >= 80);
    assert!(ingest.metrics.bytes_received.get() > 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtmp2sink_publishes() {
    let mut ingest = TestIngest::start(&[("gst", "gst-demo")], IngestConfig::default()).await;
    let url = ingest.url("gst");
    let pipeline = format!(
        "videotestsrc num-buffers=90 ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc key-int-max=60 tune=zerolatency speed-preset=superfast ! h264parse \
         ! flvmux name=m streamable=true ! rtmp2sink location={url} \
         audiotestsrc num-buffers=130 ! audio/x-raw,rate=44100,channels=2 ! voaacenc ! aacparse ! m."
    );
    let gst = Command::new("gst-launch-1.0")
        .arg("-e")
        .args(pipeline.split_whitespace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("gst-launch-1.0 runs (apt-get install gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)");
    let packets = ingest.until_end("gst-demo", &mut Vec::new()).await;
    let out = tokio::time::timeout(PATIENCE, gst.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "gst-launch failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let video = check_publish(&packets);
    assert!(video.len() >= 80, "90 pictures sent, got {}", video.len());
}

/// Encoders and services put parameters after the stream key or the
/// application (`live/KEY?bandwidthtest=true`, `live?token=T/KEY`). Both are
/// read as what comes before the `?`, as nginx-rtmp and SRS read them.
/// Before, such a key was refused as unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_after_the_key_or_the_application_are_set_aside() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    for url in [
        format!("rtmp://{}/live/secret?bandwidthtest=true", ingest.addr),
        format!("rtmp://{}/live?token=abc/secret", ingest.addr),
    ] {
        let ffmpeg = ffmpeg_publish(&url, 1);
        let packets = ingest.until_end("demo", &mut Vec::new()).await;
        let (ok, stderr) = finish(ffmpeg).await;
        assert!(ok, "{url}: {stderr}");
        check_publish(&packets);
    }
}
