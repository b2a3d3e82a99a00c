//! Channel events reach the events stream even when the stream is not there
//! at that moment (a bus that lost its storage and came back empty): it is
//! created again. A publish refusal is tried until it is stored, so the
//! ingest reads it and its publisher is told.

mod common;

use livefleet_base::ChannelName;
use livefleet_bus::{
    connect, ensure_events_stream, jetstream, last_refusal, publish_event, ChannelEvent,
    NatsServer, PublishRefusal, SegmentEvent, EVENTS_STREAM,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_made_while_the_events_stream_is_gone_are_stored() {
    common::init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    ensure_events_stream(&js).await.unwrap();
    let channel = ChannelName::new("refused").unwrap();

    js.delete_stream(EVENTS_STREAM).await.unwrap();
    let refusal = PublishRefusal::new(7, "the decoder refused the stream");
    publish_event(&js, &channel, &ChannelEvent::Refusal(refusal.clone()));
    let stored = common::within("the refusal stored", async {
        loop {
            match last_refusal(&js, &channel).await {
                Ok(Some(r)) => break r,
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    })
    .await;
    assert_eq!(stored, refusal);

    js.delete_stream(EVENTS_STREAM).await.unwrap();
    let segment = SegmentEvent {
        number: 12,
        start_ms: 1_796_000_000_000,
        duration_ms: 2000,
    };
    publish_event(&js, &channel, &ChannelEvent::Segment(segment));
    common::within("the segment event stored", async {
        loop {
            let stored = match js.get_stream(EVENTS_STREAM).await {
                Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
                Err(_) => 0,
            };
            if stored == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
}
