//! A publish its worker gave up on is ended, with the worker's reason in
//! the RTMP error status; a refusal of another session changes nothing.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ffmpeg_publish, finish, TestIngest};
use livefleet_base::{ChannelName, MediaPacket};
use livefleet_ingest::{ChannelSink, IngestConfig, MediaSink, SinkError, StaticKeys};

/// The test's channel sink, answering the refusal it was given.
struct RefusingSink {
    packets: ChannelSink,
    refused: Arc<Mutex<Option<(u32, String)>>>,
}

#[async_trait::async_trait]
impl MediaSink for RefusingSink {
    async fn publish(&self, channel: &ChannelName, packet: MediaPacket) -> Result<(), SinkError> {
        self.packets.publish(channel, packet).await
    }

    async fn refusal(&self, _channel: &ChannelName, session: u32) -> Option<String> {
        let refused = self.refused.lock().unwrap();
        refused
            .as_ref()
            .filter(|(s, _)| *s == session)
            .map(|(_, reason)| reason.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_its_worker_gave_up_on_ends_with_the_reason() {
    let refused = Arc::new(Mutex::new(None));
    let config = IngestConfig {
        publish_recheck: Duration::from_millis(300),
        ..IngestConfig::default()
    };
    let gate = Arc::new(StaticKeys::single("secret", common::channel("demo")));
    let sink_refusal = refused.clone();
    let mut ingest = TestIngest::start_with_sink(gate, config, move |packets| {
        Arc::new(RefusingSink {
            packets,
            refused: sink_refusal,
        })
    })
    .await;
    let publisher = ffmpeg_publish(&ingest.url("secret"), 20);
    let session = ingest.first_packet("demo").await.session;
    // A refusal of an earlier session (the publisher's last connection) is not this one's.
    *refused.lock().unwrap() = Some((session.wrapping_add(1), "an old session".into()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ended = ingest
        .metrics
        .publishes
        .with_label_values(&["ended_by_worker"]);
    assert_eq!(ended.get(), 0, "a stale refusal ended the publish");
    *refused.lock().unwrap() = Some((session, "the decoder refused the stream".into()));
    let (ok, stderr) = finish(publisher).await;
    assert!(!ok, "the publisher streamed on: {stderr}");
    assert!(
        stderr.contains("the decoder refused the stream"),
        "the reason reaches the publisher: {stderr}"
    );
    assert!(!stderr.contains("an old session"), "{stderr}");
    assert_eq!(ended.get(), 1);
}
