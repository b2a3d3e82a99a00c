//! Refused publishers and hostile input end only their own connection.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    avc_picture, avc_sequence_header, ffmpeg_publish, ffmpeg_publisher, finish, RawClient,
    TestIngest,
};
use livefleet_base::{PacketKind, Track};
use livefleet_ingest::{IngestConfig, PublishGate, Refusal, StaticKeys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_refused_and_nothing_is_forwarded() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    let (ok, stderr) = finish(ffmpeg_publish(&ingest.url("guessed"), 2)).await;
    assert!(!ok, "ffmpeg must fail on a refused key");
    assert!(
        stderr.contains("unknown stream key"),
        "the reason reaches the publisher: {stderr}"
    );
    assert!(ingest.packets.try_recv().is_err(), "nothing forwarded");
    assert_eq!(
        ingest
            .metrics
            .publishes
            .with_label_values(&["refused"])
            .get(),
        1
    );
    assert_eq!(
        ingest
            .metrics
            .publishes
            .with_label_values(&["accepted"])
            .get(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_app_is_refused() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    let url = format!("rtmp://{}/other/secret", ingest.addr);
    let (ok, _) = finish(ffmpeg_publish(&url, 1)).await;
    assert!(!ok);
    assert!(ingest.packets.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_publisher_of_a_channel_is_refused_while_the_first_goes_on() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    let first = ffmpeg_publish(&ingest.url("secret"), 4);
    let head = ingest.first_packet("demo").await;
    let (ok, stderr) = finish(ffmpeg_publish(&ingest.url("secret"), 2)).await;
    assert!(!ok, "second publisher must be refused");
    assert!(stderr.contains("already has a publisher"), "{stderr}");
    let rest = ingest.until_end("demo", &mut Vec::new()).await;
    let (ok, stderr) = finish(first).await;
    assert!(ok, "first publisher keeps going: {stderr}");
    assert!(
        rest.iter().all(|p| p.session == head.session),
        "only the first publish forwarded"
    );
    let frames = rest
        .iter()
        .filter(|p| p.kind == PacketKind::Frame && p.track == Track::Video)
        .count();
    assert!(frames >= 90, "the first publish went on: {frames} pictures");
    assert_eq!(
        ingest
            .metrics
            .publishes
            .with_label_values(&["refused"])
            .get(),
        1
    );
}

/// A publisher whose connection went silent without closing (the network
/// dropped it) does not lock its encoder out: the encoder's new connection
/// takes the channel over once the old one has sent nothing for
/// `takeover_after`, well before the idle timeout, and the old publish's
/// End reaches the sink before anything of the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_gone_silent_is_replaced_by_its_encoder_reconnecting() {
    let config = IngestConfig {
        takeover_after: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        ..IngestConfig::default()
    };
    let mut ingest = TestIngest::start(&[("secret", "demo")], config).await;
    let stalled = ffmpeg_publish(&ingest.url("secret"), 30);
    let head = ingest.first_packet("demo").await;
    // Frozen: the connection stays open and sends nothing more.
    let frozen = std::process::Command::new("kill")
        .args(["-STOP", &stalled.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(frozen.success());
    let asked = tokio::time::Instant::now();
    let mut refused = 0;
    let reconnected = loop {
        let mut second = ffmpeg_publish(&ingest.url("secret"), 3);
        // A refusal ends ffmpeg within a second; an accepted publish runs on.
        if tokio::time::timeout(Duration::from_secs(2), second.wait())
            .await
            .is_err()
        {
            break second;
        }
        let (ok, err) = finish(second).await;
        assert!(!ok && err.contains("already has a publisher"), "{err}");
        refused += 1;
        assert!(refused < 10, "the silent publisher was never replaced");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "let in only after {waited:?}: the idle timeout, not the takeover"
    );
    let mut aside = Vec::new();
    let old = ingest.until_end("demo", &mut aside).await;
    assert!(
        old.iter().all(|p| p.session == head.session),
        "something of the new publish came before the old one's End"
    );
    let next = ingest.first_packet("demo").await;
    assert_ne!(next.session, head.session);
    assert_eq!(ingest.metrics.takeovers.get(), 1);
    let (ok, err) = finish(reconnected).await;
    assert!(ok, "the new publisher was disturbed: {err}");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_connections_end_while_a_real_publisher_streams() {
    let config = IngestConfig {
        handshake_timeout: Duration::from_secs(1),
        ..IngestConfig::default()
    };
    let keys = [
        ("secret", "demo"),
        ("liar", "liar"),
        ("clock", "clock"),
        ("hevc", "hevc"),
        ("vp9", "vp9"),
    ];
    let mut ingest = TestIngest::start(&keys, config).await;
    let publisher = ffmpeg_publish(&ingest.url("secret"), 4);
    let head = ingest.first_packet("demo").await;
    let addr = ingest.addr;

    // Random bytes instead of a handshake.
    let mut c = RawClient::connect(addr).await;
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = c.send(&noise).await;
    assert!(c.closed_by_server().await, "random bytes");

    // A handshake cut short: the handshake timeout ends it.
    let mut c = RawClient::connect(addr).await;
    c.send(&[3; 700]).await.unwrap();
    assert!(c.closed_by_server().await, "truncated handshake");

    // Absurd chunk sizes: 0, 2^31 - 1, and above 2^31 (the top bit set).
    for size in [0u32, 0x7fff_ffff, 0xffff_fff0] {
        let mut c = RawClient::connect(addr).await;
        c.handshake().await;
        let mut chunk = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
        chunk.extend_from_slice(&size.to_be_bytes());
        c.send(&chunk).await.unwrap();
        assert!(c.closed_by_server().await, "chunk size {size:#x}");
    }

    // An AVC sequence header whose SPS length lies.
    let mut c = RawClient::publish(addr, "liar").await;
    let mut lying = avc_sequence_header();
    lying[12] = 0x70;
    let _ = c.video(0, lying).await;
    assert!(c.closed_by_server().await, "lying avcC");

    // Timestamps jumping backwards by more than the tolerance.
    let mut c = RawClient::publish(addr, "clock").await;
    c.video(0, avc_sequence_header()).await.unwrap();
    c.video(5_000, avc_picture(true)).await.unwrap();
    c.video(5_033, avc_picture(false)).await.unwrap();
    let _ = c.video(1_000, avc_picture(false)).await;
    assert!(c.closed_by_server().await, "timestamps backwards");

    // Enhanced RTMP VP9 is refused by name; an HEVC sequence start that lies
    // is refused as the lying avcC is.
    let mut c = RawClient::publish(addr, "vp9").await;
    let _ = c.video(0, b"\x90vp09\x01\x02\x03".to_vec()).await;
    assert!(c.closed_by_server().await, "enhanced RTMP VP9");
    let mut c = RawClient::publish(addr, "hevc").await;
    let _ = c.video(0, b"\x90hvc1\x01\x02\x03".to_vec()).await;
    assert!(c.closed_by_server().await, "lying hvcC");

    let mut aside = Vec::new();
    let demo = ingest.until_end("demo", &mut aside).await;
    let (ok, stderr) = finish(publisher).await;
    assert!(ok, "the real publisher is unaffected: {stderr}");
    assert!(demo.iter().all(|p| p.session == head.session));
    let frames: Vec<_> = demo
        .iter()
        .filter(|p| p.kind == PacketKind::Frame && p.track == Track::Video)
        .collect();
    assert!(frames.len() >= 90, "{} pictures", frames.len());
    assert!(frames.windows(2).all(|w| w[0].dts_ms <= w[1].dts_ms));

    // The hostile publishes ended with End; the liar forwarded nothing else.
    let of = |name: &str| {
        aside
            .iter()
            .filter(|(c, _)| c.as_str() == name)
            .map(|(_, p)| p.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("liar"), vec![PacketKind::End]);
    assert_eq!(of("hevc"), vec![PacketKind::End]);
    assert_eq!(of("vp9"), vec![PacketKind::End]);
    assert_eq!(
        of("clock"),
        vec![
            PacketKind::Config,
            PacketKind::Frame,
            PacketKind::Frame,
            PacketKind::End
        ]
    );

    let errors = |kind: &str| {
        ingest
            .metrics
            .protocol_errors
            .with_label_values(&[kind])
            .get()
    };
    assert_eq!(errors("handshake"), 1);
    assert_eq!(errors("handshake_timeout"), 1);
    assert_eq!(errors("chunk_size") + errors("chunk"), 3);
    // The lying avcC and the lying hvcC.
    assert_eq!(errors("video"), 2);
    assert_eq!(errors("timestamp"), 1);
    assert_eq!(errors("unsupported_codec"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_cannot_lock_a_publisher_out() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    // More idle sockets than there are connection slots, none of them saying a word.
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = tokio::net::TcpStream::connect(ingest.addr).await {
            idle.push(s);
        }
    }
    assert_eq!(idle.len(), 300);
    let publisher = ffmpeg_publish(&ingest.url("secret"), 3);
    let head = ingest.first_packet("demo").await;
    let rest = ingest.until_end("demo", &mut Vec::new()).await;
    let (ok, stderr) = finish(publisher).await;
    assert!(ok, "the publisher was locked out: {stderr}");
    assert!(rest.iter().all(|p| p.session == head.session));
    assert!(
        ingest
            .metrics
            .protocol_errors
            .with_label_values(&["handshake_evicted"])
            .get()
            >= 300 - 16,
        "idle handshakes beyond the budget were closed"
    );
    assert!(ingest.metrics.pending_handshakes.get() <= 16);
}

/// A registry that never answers the recheck, as when its bus node is lost.
struct SilentRegistry(StaticKeys);

#[async_trait::async_trait]
impl PublishGate for SilentRegistry {
    async fn authorize(
        &self,
        stream_key: &str,
        peer: std::net::SocketAddr,
    ) -> Result<livefleet_base::ChannelName, Refusal> {
        self.0.authorize(stream_key, peer).await
    }

    async fn recheck(
        &self,
        _stream_key: &str,
        _channel: &livefleet_base::ChannelName,
    ) -> Result<(), Refusal> {
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_cannot_answer_neither_stalls_nor_ends_a_publish() {
    let config = IngestConfig {
        idle_timeout: Duration::from_secs(2),
        publish_recheck: Duration::from_millis(300),
        ..IngestConfig::default()
    };
    let gate = SilentRegistry(StaticKeys::single("secret", common::channel("demo")));
    let mut ingest = TestIngest::start_with_gate(Arc::new(gate), config).await;
    let publisher = ffmpeg_publish(&ingest.url("secret"), 6);
    let packets = ingest.until_end("demo", &mut Vec::new()).await;
    let (ok, stderr) = finish(publisher).await;
    assert!(ok, "the publisher was cut off: {stderr}");
    let pictures = packets
        .iter()
        .filter(|p| p.kind == PacketKind::Frame && p.track == Track::Video)
        .count();
    assert!(
        pictures >= 170,
        "6 s at 30 fps arrived: {pictures} pictures"
    );
}

/// A publish of audio alone would be accepted and never seen (the ladder is
/// made from video): after 10 s of audio without video it ends with an error
/// status that says why, and the channel's packets end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_without_video_is_ended_with_a_reason() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    let publisher =
        ffmpeg_publisher(&["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-t",
                "30",
                "-c:a",
                "aac",
                "-f",
                "flv",
                &ingest.url("secret"),
            ])
            .spawn()
            .expect("ffmpeg runs");
    let packets = ingest.until_end("demo", &mut Vec::new()).await;
    let (ok, stderr) = finish(publisher).await;
    assert!(!ok, "the publisher is told");
    assert!(
        stderr.contains("no video"),
        "the reason reaches it: {stderr}"
    );
    assert!(packets
        .iter()
        .all(|p| p.track == Track::Audio || p.kind == PacketKind::End));
    let audio = packets
        .iter()
        .filter(|p| p.kind == PacketKind::Frame)
        .map(|p| p.dts_ms)
        .max()
        .unwrap_or(0);
    assert!(
        (10_000..11_000).contains(&audio),
        "ended at {audio} ms of audio"
    );
    let errors = ingest
        .metrics
        .protocol_errors
        .with_label_values(&["no_video"])
        .get();
    assert_eq!(errors, 1);
}

/// A codec the ladder cannot take (Sorenson H.263, FFmpeg's default for
/// FLV) ends the publish with an error status naming it and what to send
/// instead, not a bare broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_codec_is_named_to_the_publisher() {
    let mut ingest = TestIngest::start(&[("secret", "demo")], IngestConfig::default()).await;
    let publisher =
        ffmpeg_publisher(&["-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
            .args([
                "-t",
                "5",
                "-c:v",
                "flv1",
                "-f",
                "flv",
                &ingest.url("secret"),
            ])
            .spawn()
            .expect("ffmpeg runs");
    ingest.until_end("demo", &mut Vec::new()).await;
    let (ok, stderr) = finish(publisher).await;
    assert!(!ok);
    assert!(
        stderr.contains("Sorenson H.263") && stderr.contains("publish H.264"),
        "the reason reaches the publisher: {stderr}"
    );
    let errors = ingest
        .metrics
        .protocol_errors
        .with_label_values(&["unsupported_codec"])
        .get();
    assert_eq!(errors, 1);
}
