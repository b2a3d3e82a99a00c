//! The media stream against a real nats-server.

mod common;

use bytes::Bytes;
use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};
use livefleet_bus::{
    connect, jetstream, subscribe_media, MediaPublisher, MediaStart, MediaStreamConfig,
    MediaSubscription, NatsServer,
};

fn packet(kind: PacketKind, track: Track, keyframe: bool, dts: i64, data: Vec<u8>) -> MediaPacket {
    MediaPacket {
        kind,
        track,
        keyframe,
        codec: livefleet_base::Codec::default_for(track),
        session: 1,
        dts_ms: dts,
        pts_ms: dts + 40,
        data: Bytes::from(data),
    }
}

fn config(track: Track, tag: u8) -> MediaPacket {
    packet(PacketKind::Config, track, false, 0, vec![tag; 40])
}

fn frame(track: Track, keyframe: bool, dts: i64, len: usize) -> MediaPacket {
    let data = (0..len)
        .map(|i| (i as u64).wrapping_mul(dts as u64 + 7) as u8)
        .collect();
    packet(PacketKind::Frame, track, keyframe, dts, data)
}

async fn next(sub: &mut MediaSubscription) -> (u64, MediaPacket) {
    common::within("media subscription", sub.next())
        .await
        .unwrap()
        .unwrap()
}

async fn setup(max_payload: usize) -> (NatsServer, async_nats::jetstream::Context) {
    common::init_logging();
    let server = NatsServer::start_with_max_payload(None, max_payload)
        .await
        .unwrap();
    let client = connect(&server.url(), "media-test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    (server, js)
}

#[tokio::test]
async fn a_fragmented_keyframe_arrives_whole_and_in_order() {
    // The server default of 1 MB, so the 3 MB keyframe is split.
    let (server, js) = setup(1024 * 1024).await;
    let channel = ChannelName::new("big").unwrap();
    let other = ChannelName::new("other").unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    let mut sub = subscribe_media(&js, &channel, MediaStart::New)
        .await
        .unwrap();

    let sent = vec![
        config(Track::Video, 1),
        config(Track::Audio, 2),
        frame(Track::Video, true, 0, 3 * 1024 * 1024),
        frame(Track::Audio, false, 10, 300),
        frame(Track::Video, false, 33, 20_000),
        frame(Track::Video, false, 66, 1),
        packet(PacketKind::End, Track::Video, false, 66, vec![]),
    ];
    for (i, p) in sent.iter().enumerate() {
        publisher.publish(&channel, p).await.unwrap();
        // Another channel's traffic in between must not disturb this one
        // (video, which is sent at once; audio waits for a video frame).
        publisher
            .publish(&other, &frame(Track::Video, false, i as i64, 100))
            .await
            .unwrap();
    }
    publisher.flush().await;
    assert_eq!(publisher.ack_failures(), 0);

    let mut last_seq = 0;
    let mut seqs = Vec::new();
    for want in &sent {
        let (seq, got) = next(&mut sub).await;
        seqs.push(seq);
        assert!(seq >= last_seq, "sequence {seq} after {last_seq}");
        last_seq = seq;
        assert_eq!(got.data.len(), want.data.len());
        assert_eq!(&got, want, "packet at seq {seq}");
    }
    // The audio packet travelled with the next video frame, in one message.
    assert_eq!(seqs[3], seqs[4], "audio and video frame apart: {seqs:?}");
    assert!(seqs
        .windows(2)
        .enumerate()
        .all(|(i, w)| i == 3 || w[0] < w[1]));
    // 4 fragments of the keyframe (with the configs in front) and two
    // messages of the other channel.
    assert_eq!(seqs[3] - seqs[2], 6, "the keyframe was not split: {seqs:?}");
    // Resuming at a sequence returned by `next` gives the same packet again.
    let mut again = subscribe_media(&js, &channel, MediaStart::Sequence(last_seq))
        .await
        .unwrap();
    assert_eq!(next(&mut again).await, (last_seq, sent[6].clone()));
    drop(server);
}

#[tokio::test]
async fn a_late_worker_starts_at_configs_and_the_latest_keyframe() {
    let (_server, js) = setup(livefleet_bus::CHILD_MAX_PAYLOAD).await;
    let channel = ChannelName::new("late").unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    // A worker that reads from the start.
    let mut early = subscribe_media(&js, &channel, MediaStart::LatestKeyframe)
        .await
        .unwrap();

    let stream = vec![
        config(Track::Video, 1),
        config(Track::Audio, 2),
        frame(Track::Video, true, 0, 5000),
        frame(Track::Audio, false, 5, 200),
        frame(Track::Video, false, 33, 800),
        frame(Track::Video, true, 66, 6000),
        frame(Track::Audio, false, 70, 200),
        frame(Track::Video, false, 100, 700),
    ];
    for p in &stream {
        publisher.publish(&channel, p).await.unwrap();
    }
    publisher.flush().await;

    // The early worker sees each config once: the copies the publisher puts
    // in front of every keyframe are hidden.
    for want in &stream {
        assert_eq!(&next(&mut early).await.1, want);
    }

    let mut late = subscribe_media(&js, &channel, MediaStart::LatestKeyframe)
        .await
        .unwrap();
    let got: Vec<MediaPacket> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(next(&mut late).await.1);
        }
        v
    };
    assert_eq!(
        got,
        vec![
            stream[0].clone(),
            stream[1].clone(),
            stream[5].clone(),
            stream[6].clone(),
            stream[7].clone()
        ]
    );

    // A new config mid-stream is delivered to both.
    let changed = config(Track::Video, 9);
    publisher.publish(&channel, &changed).await.unwrap();
    assert_eq!(next(&mut late).await.1, changed);
    assert_eq!(next(&mut early).await.1, changed);
}

#[tokio::test]
async fn a_worker_starting_after_the_publish_ended_waits_for_the_next_one() {
    let (_server, js) = setup(1024 * 1024).await;
    let channel = ChannelName::new("over").unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    let ended = [
        config(Track::Video, 1),
        frame(Track::Video, true, 0, 3000),
        frame(Track::Video, false, 33, 500),
        packet(PacketKind::End, Track::Video, false, 66, Vec::new()),
    ];
    for p in &ended {
        publisher.publish(&channel, p).await.unwrap();
    }
    publisher.flush().await;
    // The tail of a broadcast that is over is not replayed as a new one.
    let mut late = subscribe_media(&js, &channel, MediaStart::LatestKeyframe)
        .await
        .unwrap();
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(500), late.next()).await;
    assert!(
        quiet.is_err(),
        "replayed: {:?}",
        quiet.ok().flatten().map(|r| r.map(|p| p.1.kind))
    );
    // The next publish is read from its start.
    let again = [
        MediaPacket {
            session: 2,
            ..config(Track::Video, 2)
        },
        MediaPacket {
            session: 2,
            ..frame(Track::Video, true, 100, 3000)
        },
    ];
    for p in &again {
        publisher.publish(&channel, p).await.unwrap();
    }
    publisher.flush().await;
    for want in &again {
        assert_eq!(&next(&mut late).await.1, want);
    }
    // While a publish is on, a late worker still joins at its keyframe.
    let mut joined = subscribe_media(&js, &channel, MediaStart::LatestKeyframe)
        .await
        .unwrap();
    assert_eq!(next(&mut joined).await.1, again[0]);
}

#[tokio::test]
async fn garbage_is_skipped() {
    let (_server, js) = setup(1024 * 1024).await;
    let channel = ChannelName::new("dirty").unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    let mut sub = subscribe_media(&js, &channel, MediaStart::New)
        .await
        .unwrap();
    let subject = "media.dirty.data";

    let first = frame(Track::Audio, false, 1, 50);
    publisher.publish(&channel, &first).await.unwrap();
    publisher.flush().await;
    js.publish(subject, Bytes::from_static(b"not a media packet"))
        .await
        .unwrap()
        .await
        .unwrap();
    // A fragment whose siblings never come, and a malformed fragment header.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Livefleet-Frag", "1/3");
    headers.insert("Livefleet-Frag-Id", "abc");
    js.publish_with_headers(subject, headers, Bytes::from_static(b"xx"))
        .await
        .unwrap()
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Livefleet-Frag", "nonsense");
    js.publish_with_headers(subject, headers, Bytes::from_static(b"yy"))
        .await
        .unwrap()
        .await
        .unwrap();
    // A batch that says it holds two packets and ends inside the first.
    js.publish(
        subject,
        Bytes::from_static(&[livefleet_bus::batch::BATCH_TAG, 0, 2, 0, 0, 0, 9, 1]),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let good = frame(Track::Video, false, 2, 70);
    publisher.publish(&channel, &good).await.unwrap();

    let (s1, p1) = next(&mut sub).await;
    assert_eq!(p1, first);
    let (s2, p2) = next(&mut sub).await;
    assert_eq!(p2, good);
    assert_eq!(s2, s1 + 5, "the four bad messages sit between");
}

#[tokio::test]
async fn a_channel_costs_a_message_per_video_frame() {
    let (_server, js) = setup(livefleet_bus::CHILD_MAX_PAYLOAD).await;
    let channel = ChannelName::new("grouped").unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    let mut sub = subscribe_media(&js, &channel, MediaStart::New)
        .await
        .unwrap();
    // Two seconds as RTMP brings them: 30 fps video with a keyframe every
    // second, AAC frames every 21.33 ms, interleaved by timestamp.
    let mut sent = vec![config(Track::Video, 1), config(Track::Audio, 2)];
    let mut timeline: Vec<MediaPacket> = (0..60)
        .map(|i| frame(Track::Video, i % 30 == 0, i * 1000 / 30, 900))
        .chain((0..94).map(|i| frame(Track::Audio, false, i * 64 / 3, 300)))
        .collect();
    timeline.sort_by_key(|p| (p.dts_ms, p.track == Track::Video));
    sent.extend(timeline);
    for p in &sent {
        publisher.publish(&channel, p).await.unwrap();
    }
    publisher.flush().await;
    for want in &sent {
        assert_eq!(&next(&mut sub).await.1, want);
    }
    let mut stream = js.get_stream(livefleet_bus::MEDIA_STREAM).await.unwrap();
    let messages = stream.info().await.unwrap().state.messages;
    // 2 configs + 60 video frames, plus what was held before the second
    // keyframe and after the last video frame: 65, against 156 one by one.
    assert!(
        (62..=66).contains(&messages),
        "{} packets took {messages} messages",
        sent.len()
    );
}

#[tokio::test]
async fn ensure_media_stream_is_idempotent() {
    let (_server, js) = setup(livefleet_bus::CHILD_MAX_PAYLOAD).await;
    let config = MediaStreamConfig {
        max_age_secs: 10,
        ..Default::default()
    };
    livefleet_bus::ensure_media_stream(&js, &config)
        .await
        .unwrap();
    livefleet_bus::ensure_media_stream(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    let info = js
        .get_stream(livefleet_bus::MEDIA_STREAM)
        .await
        .unwrap()
        .cached_info()
        .clone();
    assert_eq!(info.config.max_age, std::time::Duration::from_secs(10));
    assert_eq!(
        info.config.storage,
        async_nats::jetstream::stream::StorageType::Memory
    );
}

#[tokio::test]
async fn publishing_recovers_after_a_server_restart() {
    let (mut server, js) = setup(livefleet_bus::CHILD_MAX_PAYLOAD).await;
    let channel = ChannelName::new("phoenix").unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    publisher
        .publish(&channel, &frame(Track::Audio, false, 1, 10))
        .await
        .unwrap();
    publisher.flush().await;

    // The memory stream is gone after the restart; publishing brings it back.
    server.restart().await.unwrap();
    let after = frame(Track::Audio, false, 2, 10);
    common::within("publishing after restart", async {
        loop {
            let _ = publisher.publish(&channel, &after).await;
            publisher.flush().await;
            if let Ok(mut stream) = js.get_stream(livefleet_bus::MEDIA_STREAM).await {
                if stream
                    .info()
                    .await
                    .map(|i| i.state.messages > 0)
                    .unwrap_or(false)
                {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        publisher.ack_failures() > 0,
        "the lost stream went unnoticed"
    );
    let mut sub = subscribe_media(&js, &channel, MediaStart::Sequence(1))
        .await
        .unwrap();
    assert_eq!(next(&mut sub).await.1, after);
}
