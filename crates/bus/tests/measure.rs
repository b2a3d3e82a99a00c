//! Rough local measurements behind docs/design/media-transport.md. Ignored by
//! default (timings never decide a test); run with
//! `cargo test -p livefleet-bus --test measure -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer;
use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};
use livefleet_bus::{
    connect, jetstream, subscribe_media, MediaPublisher, MediaStart, MediaStreamConfig, NatsServer,
    MEDIA_STREAM,
};

const COUNT: usize = 2000;
const SIZE: usize = 4096;
const ROUNDS: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn packet(dts: i64) -> MediaPacket {
    MediaPacket {
        kind: PacketKind::Frame,
        track: Track::Video,
        keyframe: false,
        codec: livefleet_base::Codec::H264,
        session: 1,
        dts_ms: dts,
        pts_ms: dts,
        data: Bytes::from(vec![7u8; SIZE]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_media_transport() {
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "measure").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    let publisher = MediaPublisher::new(&js, &MediaStreamConfig::default())
        .await
        .unwrap();
    let channel = ChannelName::new("measure").unwrap();

    // Throughput: await every ack vs acks tracked in the background.
    let t = Instant::now();
    for i in 0..COUNT {
        js.publish("media.measure.data", packet(i as i64).encode())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let awaited = t.elapsed();
    let t = Instant::now();
    for i in 0..COUNT {
        publisher
            .publish(&channel, &packet(i as i64))
            .await
            .unwrap();
    }
    publisher.flush().await;
    let tracked = t.elapsed();
    let core = client.clone();
    let t = Instant::now();
    for i in 0..COUNT {
        core.publish("bench.core", packet(i as i64).encode())
            .await
            .unwrap();
    }
    core.flush().await.unwrap();
    let core_pub = t.elapsed();
    println!("{COUNT} x {SIZE} B: JetStream awaiting each ack {awaited:?}, acks tracked in background {tracked:?}, core NATS publish {core_pub:?}");

    // Latency publish -> delivery, one message at a time.
    let mut push = subscribe_media(&js, &channel, MediaStart::New)
        .await
        .unwrap();
    let mut push_lat = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        publisher
            .publish(&channel, &packet(i as i64))
            .await
            .unwrap();
        push.next().await.unwrap().unwrap();
        push_lat.push(t.elapsed());
    }
    let stream = js.get_stream(MEDIA_STREAM).await.unwrap();
    let pull = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "media.measure.>".into(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut pull = pull.messages().await.unwrap();
    let mut pull_lat = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        publisher
            .publish(&channel, &packet(i as i64))
            .await
            .unwrap();
        pull.next().await.unwrap().unwrap();
        pull_lat.push(t.elapsed());
    }
    let mut sub = client.subscribe("bench.lat").await.unwrap();
    let mut core_lat = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        client
            .publish("bench.lat", packet(i as i64).encode())
            .await
            .unwrap();
        sub.next().await.unwrap();
        core_lat.push(t.elapsed());
    }
    println!(
        "median publish->delivery of {SIZE} B: ordered push consumer {:?}, ordered pull consumer {:?}, core NATS {:?}",
        median(push_lat),
        median(pull_lat),
        median(core_lat)
    );
}
