//! The upkeep makes again the streams a process made ready and the bus
//! lost, and only those: a stream the server refused stays unmade (its
//! caller was told it failed), so no false "gone from the bus" is logged
//! for it.

mod common;

use std::time::Duration;

use livefleet_bus::replication::ensure_stream;
use livefleet_bus::{connect, jetstream, restorations, spawn_upkeep, NatsServer, StreamKind};

fn stream(name: &str, subjects: &str) -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects.to_owned()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_streams_that_were_made_are_made_again() {
    common::init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    let _upkeep = spawn_upkeep(js.clone());

    // Refused: its subjects overlap a stream that holds them.
    js.create_stream(stream("HOLDER", "held.>")).await.unwrap();
    let refused = ensure_stream(&js, stream("REFUSED", "held.x.>"), StreamKind::State).await;
    assert!(refused.is_err(), "overlapping subjects were accepted");

    ensure_stream(&js, stream("KEPT", "kept.>"), StreamKind::State)
        .await
        .unwrap();
    let mut made_again = restorations("KEPT");

    // The refused one could be made now; the lost one must be.
    js.delete_stream("HOLDER").await.unwrap();
    js.delete_stream("KEPT").await.unwrap();
    common::within("KEPT made again", async {
        loop {
            if js.get_stream("KEPT").await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    common::within("KEPT's restoration told", made_again.made_again()).await;

    // Two more checks of the upkeep (every 5 s) after the one that made KEPT.
    tokio::time::sleep(livefleet_bus::UPKEEP_EVERY * 2).await;
    assert!(
        js.get_stream("REFUSED").await.is_err(),
        "a stream the server refused was made behind its caller's back"
    );
}
