//! The index of archived broadcasts against a real nats-server: records as
//! leases (a write at a stale revision is refused), and records written
//! before the lease fields existed still read.

mod common;

use bytes::Bytes;
use livefleet_base::ChannelName;
use livefleet_bus::{
    connect, jetstream, ArchiveState, ArchivedBroadcast, BroadcastIndex, NatsServer,
    BROADCASTS_BUCKET, OPEN_ARCHIVES_BUCKET,
};

fn record(channel: &str, id: &str) -> ArchivedBroadcast {
    ArchivedBroadcast {
        channel: ChannelName::new(channel).unwrap(),
        id: id.into(),
        started_ms: 1,
        ended_ms: 2,
        duration_seconds: 12.0,
        segments: 6,
        gaps: 0,
        prefix: format!("vod/{channel}/{id}/"),
        state: ArchiveState::Archiving,
        error: None,
        updated_ms: 3,
        owner: Some("w1".into()),
        store: Some("s3://b/ at x".into()),
        delete_live_at_ms: None,
        live_deleted_ms: None,
        rebuilt_ms: None,
        storyboard: false,
    }
}

#[tokio::test]
async fn a_record_written_since_is_not_overwritten_and_old_records_still_read() {
    common::init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "broadcasts-test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    let index = BroadcastIndex::open(&js).await.unwrap();

    let mut mine = record("show", "20261201T233000Z-42");
    let first = index.put(&mine).await.unwrap();
    // Another node takes it over at the revision it read.
    let mut theirs = mine.clone();
    theirs.owner = Some("w2".into());
    let taken = index.update(&theirs, first).await.unwrap();
    assert!(taken.is_some());
    // The first owner's next heartbeat is refused: it holds nothing now.
    mine.updated_ms = 4;
    assert_eq!(index.update(&mine, first).await.unwrap(), None);
    let (stored, revision) = index.get(&mine.channel, &mine.id).await.unwrap().unwrap();
    assert_eq!(stored.owner.as_deref(), Some("w2"));
    assert_eq!(Some(revision), taken);

    // A record from before owners and stores, and one that is not JSON.
    let kv = js.get_key_value(BROADCASTS_BUCKET).await.unwrap();
    let old = r#"{"channel":"show","id":"20261130T100000Z-1","started_ms":1,"ended_ms":2,"duration_seconds":4.0,"segments":2,"gaps":0,"prefix":"vod/show/20261130T100000Z-1/","state":"complete","updated_ms":3}"#;
    kv.put("show.20261130T100000Z-1", Bytes::from(old))
        .await
        .unwrap();
    kv.put("show.20261129T100000Z-0", Bytes::from_static(b"{not json"))
        .await
        .unwrap();
    let listed = index.list(&mine.channel).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].id, "20261201T233000Z-42", "newest first");
    let old = &listed[1];
    assert_eq!((old.owner.clone(), old.store.clone()), (None, None));
    assert_eq!(old.state, ArchiveState::Complete);

    // Only the open one is swept; once it is done, its mark goes.
    let open = index.unfinished().await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].0.owner.as_deref(), Some("w2"));
    theirs.state = ArchiveState::Complete;
    theirs.delete_live_at_ms = Some(10);
    let revision = index.update(&theirs, open[0].1).await.unwrap().unwrap();
    assert_eq!(
        index.unfinished().await.unwrap().len(),
        1,
        "a deletion pending"
    );
    theirs.live_deleted_ms = Some(11);
    index.update(&theirs, revision).await.unwrap().unwrap();
    assert!(index.unfinished().await.unwrap().is_empty());
    let marks = js.get_key_value(OPEN_ARCHIVES_BUCKET).await.unwrap();
    assert_eq!(marks.get("show.20261201T233000Z-42").await.unwrap(), None);
}

#[tokio::test]
async fn a_rebuilt_record_is_stored_only_where_there_is_none() {
    common::init_logging();
    let server = NatsServer::start(None).await.unwrap();
    let client = connect(&server.url(), "broadcasts-test").await.unwrap();
    let js = jetstream(&client).await.unwrap();
    let index = BroadcastIndex::open(&js).await.unwrap();

    let written = record("show", "20261201T233000Z-42");
    index.put(&written).await.unwrap();
    let rebuilt = |id: &str| ArchivedBroadcast {
        state: ArchiveState::Complete,
        owner: None,
        rebuilt_ms: Some(5),
        storyboard: false,
        ..record("show", id)
    };
    assert!(!index.create(&rebuilt("20261201T233000Z-42")).await.unwrap());
    let (stored, _) = index
        .get(&written.channel, &written.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, written, "the node's record stays");
    assert!(index.create(&rebuilt("20261202T080000Z-90")).await.unwrap());
    let (stored, _) = index
        .get(&written.channel, "20261202T080000Z-90")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.rebuilt_ms, Some(5));

    let keys = index.recorded().await.unwrap();
    let mut keys: Vec<_> = keys.into_iter().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            livefleet_bus::record_key(&written.channel, "20261201T233000Z-42"),
            livefleet_bus::record_key(&written.channel, "20261202T080000Z-90"),
        ]
    );
}
