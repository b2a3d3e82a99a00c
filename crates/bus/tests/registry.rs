//! The channel registry against a real nats-server.

mod common;

use bytes::Bytes;
use livefleet_base::ChannelName;
use livefleet_bus::{
    connect, generate_stream_key, jetstream, BusError, ChannelChange, ChannelRecord,
    ChannelRegistry, NatsServer, REGISTRY_BUCKET,
};

fn record(name: &str, key: &str) -> ChannelRecord {
    ChannelRecord {
        name: ChannelName::new(name).unwrap(),
        stream_key: key.to_owned(),
        profile_yaml: format!("name: {name}-profile\nrenditions: []\n"),
        profile_name: format!("{name}-profile"),
        created_unix_ms: 1_700_000_000_000,
    }
}

async fn setup() -> (NatsServer, async_nats::jetstream::Context, ChannelRegistry) {
    common::init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "registry-test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    let registry = ChannelRegistry::open(&js).await.unwrap();
    (server, js, registry)
}

#[tokio::test]
async fn create_get_list_find_delete() {
    let (_server, js, registry) = setup().await;
    let a = record("alpha", &generate_stream_key());
    let b = record("beta", "beta_key-123");
    registry.create(b.clone()).await.unwrap();
    registry.create(a.clone()).await.unwrap();

    // Opening again finds the same bucket.
    let again = ChannelRegistry::open(&js).await.unwrap();
    assert_eq!(again.get(&a.name).await.unwrap(), Some(a.clone()));
    assert_eq!(
        registry
            .get(&ChannelName::new("gamma").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(registry.list().await.unwrap(), vec![a.clone(), b.clone()]);

    assert_eq!(
        registry.find_by_key("beta_key-123").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        registry.find_by_key(&a.stream_key).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(registry.find_by_key("beta_key-124").await.unwrap(), None);
    assert_eq!(
        registry.find_by_key("bad key with spaces").await.unwrap(),
        None
    );
    assert_eq!(registry.find_by_key("").await.unwrap(), None);

    assert!(registry.delete(&b.name).await.unwrap());
    assert!(!registry.delete(&b.name).await.unwrap());
    assert_eq!(registry.get(&b.name).await.unwrap(), None);
    assert_eq!(registry.find_by_key("beta_key-123").await.unwrap(), None);
    assert_eq!(registry.list().await.unwrap(), vec![a.clone()]);

    // The name and the key are free again.
    registry.create(b.clone()).await.unwrap();
    assert_eq!(registry.find_by_key("beta_key-123").await.unwrap(), Some(b));
}

#[tokio::test]
async fn duplicates_and_bad_keys_are_refused() {
    let (_server, _js, registry) = setup().await;
    let a = record("alpha", "alpha-key-1");
    registry.create(a.clone()).await.unwrap();

    let same_name = record("alpha", "another-key-2");
    assert!(
        matches!(registry.create(same_name).await, Err(BusError::AlreadyExists(n)) if n == a.name)
    );
    assert!(matches!(
        registry.create(a.clone()).await,
        Err(BusError::AlreadyExists(_))
    ));
    let same_key = record("other", "alpha-key-1");
    assert!(matches!(
        registry.create(same_key).await,
        Err(BusError::StreamKeyInUse(_))
    ));
    // The failed attempts left the first channel intact.
    assert_eq!(
        registry.find_by_key("alpha-key-1").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(registry.find_by_key("another-key-2").await.unwrap(), None);
    assert_eq!(
        registry
            .get(&ChannelName::new("other").unwrap())
            .await
            .unwrap(),
        None
    );

    for bad in ["short", "has space!", "ключ-ключ-ключ"] {
        let err = registry.create(record("bad", bad)).await.unwrap_err();
        assert!(matches!(err, BusError::InvalidStreamKey(_)));
        assert!(
            !err.to_string().contains(bad),
            "the error shows the key: {err}"
        );
    }
}

#[tokio::test]
async fn garbage_values_are_skipped() {
    let (_server, js, registry) = setup().await;
    let good = record("good", "good-key-1");
    registry.create(good.clone()).await.unwrap();
    let kv = js.get_key_value(REGISTRY_BUCKET).await.unwrap();
    kv.put("channel.junk", Bytes::from_static(b"{not json"))
        .await
        .unwrap();
    // A valid record filed under the wrong name is not trusted either.
    let misfiled = serde_json::to_vec(&record("elsewhere", "misfiled-key")).unwrap();
    kv.put("channel.misfiled", Bytes::from(misfiled))
        .await
        .unwrap();
    kv.put("key.0000", Bytes::from_static(b"NOT A NAME"))
        .await
        .unwrap();

    let junk = ChannelName::new("junk").unwrap();
    assert_eq!(registry.get(&junk).await.unwrap(), None);
    assert_eq!(registry.list().await.unwrap(), vec![good.clone()]);
    // Deleting garbage works and says it existed.
    assert!(registry.delete(&junk).await.unwrap());
    assert_eq!(
        registry.find_by_key("good-key-1").await.unwrap(),
        Some(good)
    );
}

async fn next(w: &mut livefleet_bus::ChannelWatch) -> ChannelChange {
    common::within("registry watch", w.next())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn watch_sees_puts_and_deletes() {
    let (_server, js, registry) = setup().await;
    let existing = record("existing", "existing-key");
    registry.create(existing.clone()).await.unwrap();

    let mut changes = registry.watch().await.unwrap();
    let mut with_current = registry.watch_with_current().await.unwrap();

    let kv = js.get_key_value(REGISTRY_BUCKET).await.unwrap();
    kv.put("channel.garbage", Bytes::from_static(b"\xff\xfe"))
        .await
        .unwrap();
    let fresh = record("fresh", &generate_stream_key());
    registry.create(fresh.clone()).await.unwrap();
    registry.delete(&existing.name).await.unwrap();

    assert_eq!(next(&mut changes).await, ChannelChange::Put(fresh.clone()));
    assert_eq!(
        next(&mut changes).await,
        ChannelChange::Deleted(existing.name.clone())
    );

    assert_eq!(
        next(&mut with_current).await,
        ChannelChange::Put(existing.clone())
    );
    assert_eq!(next(&mut with_current).await, ChannelChange::Put(fresh));
    assert_eq!(
        next(&mut with_current).await,
        ChannelChange::Deleted(existing.name)
    );
}

#[tokio::test]
async fn rotating_a_stream_key_retires_the_old_one() {
    let (_server, _js, registry) = setup().await;
    let a = record("alpha", "alpha_key-0001");
    let b = record("beta", "beta_key-0001");
    registry.create(a.clone()).await.unwrap();
    registry.create(b.clone()).await.unwrap();

    let rotated = registry
        .rotate_key(&a.name, "alpha_key-0002".into())
        .await
        .unwrap();
    assert_eq!(rotated.stream_key, "alpha_key-0002");
    assert_eq!(rotated.profile_yaml, a.profile_yaml);
    assert_eq!(registry.get(&a.name).await.unwrap(), Some(rotated.clone()));
    assert_eq!(registry.find_by_key("alpha_key-0001").await.unwrap(), None);
    assert_eq!(
        registry.find_by_key("alpha_key-0002").await.unwrap(),
        Some(rotated.clone())
    );
    // The old key is free for anyone again; another channel's key is not.
    assert!(matches!(
        registry.rotate_key(&a.name, "beta_key-0001".into()).await,
        Err(BusError::StreamKeyInUse(_))
    ));
    assert_eq!(
        registry.find_by_key("beta_key-0001").await.unwrap(),
        Some(b.clone())
    );
    assert!(matches!(
        registry.rotate_key(&a.name, "alpha_key-0002".into()).await,
        Err(BusError::InvalidStreamKey(_))
    ));
    assert!(matches!(
        registry.rotate_key(&a.name, "bad key".into()).await,
        Err(BusError::InvalidStreamKey(_))
    ));
    assert!(matches!(
        registry
            .rotate_key(&ChannelName::new("gamma").unwrap(), "gamma_key-0001".into())
            .await,
        Err(BusError::NotFound(_))
    ));
    registry
        .create(record("delta", "alpha_key-0001"))
        .await
        .unwrap();
}
