//! The nats-server harness itself.

mod common;

use std::time::Duration;

use livefleet_base::ChannelName;
use livefleet_bus::{connect, jetstream, ChannelRecord, ChannelRegistry, NatsServer};

#[tokio::test]
async fn starts_and_drop_kills_the_process() {
    common::init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let pid = server.pid().unwrap();
    let store = server.store_dir().to_path_buf();
    assert!(server.url().ends_with(&format!(":{}", server.port())));
    let client = connect(&server.url(), "test").await.unwrap();
    assert_eq!(
        client.server_info().max_payload,
        livefleet_bus::CHILD_MAX_PAYLOAD
    );
    jetstream(&client).await.unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "nats-server {pid} still runs"
    );
    assert!(
        !store.exists(),
        "temporary store {} left behind",
        store.display()
    );
}

#[tokio::test]
async fn a_given_store_dir_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("nats");
    let server = NatsServer::start(Some(store.clone())).await.unwrap();
    drop(server);
    assert!(store.join("nats-server.conf").exists());
}

#[tokio::test]
async fn restart_keeps_jetstream_data_and_clients_reconnect() {
    common::init_logging();
    let mut server = NatsServer::start(None).await.unwrap();
    let port = server.port();
    let client = connect(&server.url(), "test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    let registry = ChannelRegistry::open(&js).await.unwrap();
    let rec = ChannelRecord {
        name: ChannelName::new("survivor").unwrap(),
        stream_key: livefleet_bus::generate_stream_key(),
        profile_yaml: "name: default\n".into(),
        profile_name: "default".into(),
        created_unix_ms: 1,
    };
    registry.create(rec.clone()).await.unwrap();
    let old_pid = server.pid();

    server.restart().await.unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);

    // The same client reconnects on its own; retry while it does.
    let got = common::within("reading after restart", async {
        loop {
            match registry.get(&rec.name).await {
                Ok(got) => break got,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await;
    assert_eq!(got, Some(rec));
}

#[tokio::test]
async fn a_bad_url_fails_at_once() {
    let err = connect("nats://127.0.0.1:notaport", "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
