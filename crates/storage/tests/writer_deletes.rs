//! The writer's deletes of expired objects, against a real directory: in
//! order behind the puts, parked while the store is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use livefleet_storage::{
    LocalDir, ObjectMeta, Put, RetryPolicy, Storage, StorageError, StorageMetrics, StorageWriter,
    WriterOptions,
};

/// A local directory that can be taken down (every call fails, retryable).
struct Flaky {
    dir: LocalDir,
    down: AtomicBool,
}

impl Flaky {
    fn check(&self, key: &str) -> Result<(), StorageError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StorageError::Backend {
                key: key.to_owned(),
                message: "the store is down (test)".into(),
                retryable: true,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for Flaky {
    async fn put(&self, key: &str, body: Bytes, meta: ObjectMeta) -> Result<(), StorageError> {
        self.check(key)?;
        self.dir.put(key, body, meta).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        self.check(key)?;
        self.dir.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.check(key)?;
        self.dir.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.check(prefix)?;
        self.dir.list(prefix).await
    }
}

fn options() -> WriterOptions {
    WriterOptions {
        queue_capacity: 16,
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        },
        parked_retry: Duration::from_millis(20),
        ..WriterOptions::default()
    }
}

fn deletes(registry: &prometheus::Registry, result: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "livefleet_storage_deletes_total")
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| m.get_label().iter().any(|l| l.value() == result))
        .map(|m| m.get_counter().get_value())
        .sum()
}

async fn delete(writer: &Arc<StorageWriter>, key: &str) {
    let (w, key) = (writer.clone(), key.to_owned());
    tokio::task::spawn_blocking(move || w.blocking_delete(key))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_go_behind_the_puts_queued_before_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalDir::new(tmp.path().to_path_buf()).unwrap());
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    let writer = Arc::new(StorageWriter::spawn(store.clone(), options(), metrics));
    for n in 1..=3 {
        writer
            .put(Put::new(
                format!("live/a/360p/{n}.m4s"),
                Bytes::from_static(b"seg"),
            ))
            .await
            .unwrap();
    }
    delete(&writer, "live/a/360p/1.m4s").await;
    // Queued after the delete: stored, never deleted.
    writer
        .put(Put::new("live/a/360p/1.m4s", Bytes::from_static(b"again")))
        .await
        .unwrap();
    delete(&writer, "live/a/360p/2.m4s").await;
    // Deleting what is not there is no error.
    delete(&writer, "live/a/360p/99.m4s").await;
    writer.flush().await.unwrap();
    assert_eq!(
        store.list("live/a/").await.unwrap(),
        ["live/a/360p/1.m4s", "live/a/360p/3.m4s"]
    );
    assert_eq!(
        store.get("live/a/360p/1.m4s").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    assert_eq!(deletes(&registry, "ok"), 3.0);
    assert_eq!(deletes(&registry, "failed"), 0.0);
    let bad = writer.clone();
    let refused = tokio::task::spawn_blocking(move || bad.blocking_delete("../x".into()))
        .await
        .unwrap();
    assert!(refused.is_err(), "a bad key is refused before it is queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_store_is_down_deletes_wait_and_a_parked_put_of_the_same_key_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky {
        dir: LocalDir::new(tmp.path().to_path_buf()).unwrap(),
        down: AtomicBool::new(false),
    });
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    let writer = Arc::new(StorageWriter::spawn(store.clone(), options(), metrics));
    writer
        .put(Put::new("live/a/360p/1.m4s", Bytes::from_static(b"seg")))
        .await
        .unwrap();
    writer.flush().await.unwrap();

    store.down.store(true, Ordering::SeqCst);
    writer
        .put(Put::new("live/a/360p/2.m4s", Bytes::from_static(b"seg")))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(writer.missing("live/a/").keys, ["live/a/360p/2.m4s"]);
    // 2 expires while parked: it is never stored, and no longer missing.
    delete(&writer, "live/a/360p/2.m4s").await;
    delete(&writer, "live/a/360p/1.m4s").await;
    writer
        .put(Put::new("live/a/360p/3.m4s", Bytes::from_static(b"seg")))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(writer.missing("live/a/").keys, ["live/a/360p/3.m4s"]);
    assert_eq!(
        store.dir.list("live/a/").await.unwrap(),
        ["live/a/360p/1.m4s"]
    );

    store.down.store(false, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listed = store.dir.list("live/a/").await.unwrap();
        if listed == ["live/a/360p/3.m4s"] && writer.missing("live/a/").keys.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the store came back: {listed:?}, missing {:?}",
            writer.missing("live/a/").keys
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(deletes(&registry, "ok") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_deletes_what_its_filter_picks_behind_the_puts_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalDir::new(tmp.path().to_path_buf()).unwrap());
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    let writer = Arc::new(StorageWriter::spawn(store.clone(), options(), metrics));
    for key in [
        "live/a/360p/1.m4s",
        "live/a/360p/2.m4s",
        "live/a/360p/init.mp4",
        "live/b/360p/1.m4s",
    ] {
        writer
            .put(Put::new(key, Bytes::from_static(b"x")))
            .await
            .unwrap();
    }
    // Queued before the sweep, so swept too.
    writer
        .put(Put::new("live/a/chat/1.json", Bytes::from_static(b"[]")))
        .await
        .unwrap();
    let w = writer.clone();
    tokio::task::spawn_blocking(move || {
        w.blocking_sweep(
            "live/a/".into(),
            Box::new(|key: &str| key.ends_with("/1.m4s") || key.ends_with("/1.json")),
        )
    })
    .await
    .unwrap()
    .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(
        store.list("live/").await.unwrap(),
        [
            "live/a/360p/2.m4s",
            "live/a/360p/init.mp4",
            "live/b/360p/1.m4s"
        ],
        "only the prefix's picked keys go"
    );
    assert_eq!(deletes(&registry, "ok"), 2.0);
    let bad = writer.clone();
    let refused = tokio::task::spawn_blocking(move || {
        bad.blocking_sweep("../".into(), Box::new(|_: &str| true))
    })
    .await
    .unwrap();
    assert!(
        refused.is_err(),
        "a bad prefix is refused before it is queued"
    );
}
