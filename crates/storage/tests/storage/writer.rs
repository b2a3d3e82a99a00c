//! The ordered writer and the retry loop.

use super::*;

/// Records every stored key in order; can be told to fail the first N puts.
struct Recorder {
    puts: Mutex<Vec<String>>,
    failures_left: AtomicU32,
    attempts: AtomicU32,
    retryable: bool,
}

impl Recorder {
    fn failing(n: u32, retryable: bool) -> Self {
        Recorder {
            puts: Mutex::new(Vec::new()),
            failures_left: AtomicU32::new(n),
            attempts: AtomicU32::new(0),
            retryable,
        }
    }
}

#[async_trait]
impl Storage for Recorder {
    async fn put(&self, key: &str, _body: Bytes, _meta: ObjectMeta) -> Result<(), StorageError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        // Vary how long each put takes, so that a writer that ran puts
        // concurrently would reorder them.
        for _ in 0..(key.len() % 5) {
            tokio::task::yield_now().await;
        }
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StorageError::Backend {
                key: key.to_owned(),
                message: "injected failure".into(),
                retryable: self.retryable,
            });
        }
        self.puts.lock().unwrap().push(key.to_owned());
        Ok(())
    }
    async fn get(&self, _key: &str) -> Result<Option<Bytes>, StorageError> {
        Ok(None)
    }
    async fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Ok(())
    }
    async fn list(&self, _prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

fn counter(registry: &prometheus::Registry, name: &str, result: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .filter(|m| m.get_label().iter().any(|l| l.value() == result))
        .map(|m| m.get_counter().get_value())
        .sum()
}

#[tokio::test]
async fn writer_preserves_order() {
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    let recorder = Arc::new(Recorder::failing(3, true));
    let writer = StorageWriter::spawn(
        recorder.clone(),
        WriterOptions {
            queue_capacity: 4,
            retry: quick_retries(5),
            ..WriterOptions::default()
        },
        metrics,
    );
    let mut expected = Vec::new();
    for n in 0..20 {
        for key in [
            format!("live/a/720p/{n}.m4s"),
            format!("live/a/360p/{n}.m4s"),
        ] {
            writer
                .put(Put::new(key.clone(), Bytes::new()))
                .await
                .unwrap();
            expected.push(key);
        }
        let playlist = "live/a/720p/index.m3u8".to_owned();
        writer
            .put(Put::new(playlist.clone(), Bytes::new()))
            .await
            .unwrap();
        expected.push(playlist);
    }
    writer.flush().await.unwrap();
    // Segments between two manifests go up together, in any order; every
    // manifest comes after the segments queued before it.
    let stored = recorder.puts.lock().unwrap().clone();
    let steps = |keys: &[String]| -> Vec<Vec<String>> {
        keys.split(|k| k.ends_with(".m3u8"))
            .map(|s| {
                let mut s = s.to_vec();
                s.sort();
                s
            })
            .collect()
    };
    assert_eq!(steps(&stored), steps(&expected), "{stored:?}");
    assert_eq!(stored.len(), expected.len());
    assert_eq!(writer.queue_depth(), 0);
    assert_eq!(writer.failed_puts(), 0);
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "ok"),
        60.0
    );
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "retry"),
        3.0
    );
    writer.close().await;
}

#[tokio::test]
async fn writer_refuses_bad_keys_and_reports_a_full_queue() {
    let metrics = StorageMetrics::unregistered().unwrap();
    let store = Arc::new(Recorder::failing(0, true));
    let writer = StorageWriter::spawn(
        store,
        WriterOptions {
            queue_capacity: 1,
            retry: quick_retries(1),
            ..WriterOptions::default()
        },
        metrics,
    );
    assert!(matches!(
        writer.try_put(Put::new("../x", Bytes::new())),
        Err(WriterError::BadKey(StorageError::BadKey { .. }))
    ));
    // Fill the queue faster than the task can drain it (the task does not
    // run between these calls on the current-thread runtime).
    let mut full = false;
    for n in 0..4 {
        match writer.try_put(Put::new(format!("live/a/{n}.m4s"), Bytes::new())) {
            Ok(()) => {}
            Err(WriterError::Full { capacity, .. }) => {
                assert_eq!(capacity, 1);
                full = true;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(full, "a one-slot queue must fill up");
    assert_eq!(writer.queue_depth(), 1);
    writer.flush().await.unwrap();
    assert_eq!(writer.queue_depth(), 0);
}

#[tokio::test]
async fn writer_gives_up_after_bounded_attempts_and_keeps_going() {
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    let recorder = Arc::new(Recorder::failing(3, true));
    let writer = StorageWriter::spawn(
        recorder.clone(),
        WriterOptions {
            queue_capacity: 8,
            retry: quick_retries(3),
            parked_retry: Duration::from_millis(50),
            ..WriterOptions::default()
        },
        metrics,
    );
    writer
        .put(Put::new("live/a/1.m4s", Bytes::new()))
        .await
        .unwrap();
    writer
        .put(Put::new("live/a/index.m3u8", Bytes::new()))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    // The segment is given up after 3 attempts; the store is taken to be
    // down, so the manifest behind it is parked at once, not tried 3 times.
    assert_eq!(writer.failed_puts(), 2);
    assert_eq!(recorder.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(writer.missing("live/").keys, vec!["live/a/1.m4s"]);
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "failed"),
        2.0
    );
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "retry"),
        2.0
    );
    // The background retry finds the store answering: both are stored, in order.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while recorder.puts.lock().unwrap().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "parked puts not retried"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *recorder.puts.lock().unwrap(),
        vec!["live/a/1.m4s", "live/a/index.m3u8"]
    );
    assert!(writer.missing("live/").keys.is_empty());
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "recovered"),
        2.0
    );
}

#[tokio::test]
async fn retrying_storage_retries_only_what_can_succeed() {
    let metrics = StorageMetrics::unregistered().unwrap();
    let flaky = RetryingStorage::new(
        Recorder::failing(2, true),
        quick_retries(3),
        metrics.clone(),
    );
    flaky
        .put("live/a/1.m4s", Bytes::new(), meta("live/a/1.m4s"))
        .await
        .unwrap();
    assert_eq!(flaky.inner().attempts.load(Ordering::SeqCst), 3);

    let broken = RetryingStorage::new(Recorder::failing(5, false), quick_retries(3), metrics);
    let error = broken
        .put("live/a/1.m4s", Bytes::new(), meta("live/a/1.m4s"))
        .await
        .unwrap_err();
    assert!(!error.is_retryable());
    assert_eq!(
        broken.inner().attempts.load(Ordering::SeqCst),
        1,
        "no retry of a permanent error"
    );
}

#[tokio::test]
async fn metrics_register_once_per_registry() {
    let registry = prometheus::Registry::new();
    StorageMetrics::register(&registry).unwrap();
    assert!(StorageMetrics::register(&registry).is_err());
}

#[tokio::test]
async fn lost_segments_are_reported_retried_and_never_named_unmarked() {
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    // The store is down until told otherwise.
    let recorder = Arc::new(Recorder::failing(u32::MAX, true));
    let writer = StorageWriter::spawn(
        recorder.clone(),
        WriterOptions {
            queue_capacity: 8,
            retry: quick_retries(2),
            parked_retry: Duration::from_millis(20),
            ..WriterOptions::default()
        },
        metrics,
    );
    assert_eq!(writer.missing("live/a/"), MissingObjects::default());
    let version = writer.missing_version();
    writer
        .put(Put::new("live/a/360p/7.m4s", Bytes::new()))
        .await
        .unwrap();
    // Made before the loss was known: it would name 7.m4s unmarked.
    writer
        .put(Put::new("live/a/360p/index.m3u8", Bytes::from_static(b"stale")).naming_as_of(0))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_ne!(writer.missing_version(), version);
    let missing = writer.missing("live/a/");
    assert_eq!(missing.lost, 1);
    assert_eq!(missing.keys, vec!["live/a/360p/7.m4s"]);
    assert!(writer.missing("live/b/").keys.is_empty());
    assert_eq!(
        registry
            .gather()
            .iter()
            .find(|f| f.name() == "livefleet_storage_manifests_held_total")
            .map(|f| f.get_metric()[0].get_counter().get_value()),
        Some(1.0)
    );
    // A manifest that marks the gap is tried (and parked while the store is down).
    writer
        .put(Put::new("live/a/360p/index.m3u8", Bytes::from_static(b"marked")).naming_as_of(1))
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert!(recorder.puts.lock().unwrap().is_empty());
    // The store comes back: the background retries store both, oldest first.
    recorder.failures_left.store(0, Ordering::SeqCst);
    for _ in 0..200 {
        if recorder.puts.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *recorder.puts.lock().unwrap(),
        vec!["live/a/360p/7.m4s", "live/a/360p/index.m3u8"]
    );
    assert!(writer.missing("live/a/").keys.is_empty());
    assert_eq!(
        writer.missing("live/a/").lost,
        1,
        "the loss count never falls"
    );
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "recovered"),
        2.0
    );
    writer.close().await;
}

/// A store that takes `delay` per put.
struct Slow {
    delay: Duration,
}

#[async_trait]
impl Storage for Slow {
    async fn put(&self, _key: &str, _body: Bytes, _meta: ObjectMeta) -> Result<(), StorageError> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }
    async fn get(&self, _key: &str) -> Result<Option<Bytes>, StorageError> {
        Ok(None)
    }
    async fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Ok(())
    }
    async fn list(&self, _prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_slower_than_the_stream_holds_the_packager_a_bounded_time_and_drops_marked_segments(
) {
    let registry = prometheus::Registry::new();
    let metrics = StorageMetrics::register(&registry).unwrap();
    let writer = Arc::new(StorageWriter::spawn(
        Arc::new(Slow {
            delay: Duration::from_millis(400),
        }),
        WriterOptions {
            queue_capacity: 2,
            parallel: 1,
            max_wait: Duration::from_millis(100),
            ..WriterOptions::default()
        },
        metrics,
    ));
    let w = writer.clone();
    // The packager's side: a thread outside the runtime.
    let (elapsed, outcomes) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut outcomes = Vec::new();
        for n in 0..8 {
            let t = std::time::Instant::now();
            let r = w.blocking_put_within(Put::new(format!("live/a/360p/{n}.m4s"), Bytes::new()));
            outcomes.push((r.is_ok(), t.elapsed()));
        }
        (started.elapsed(), outcomes)
    })
    .await
    .unwrap();
    // No put waited much past the bound; the store needed 3.2 s for all.
    for (_, waited) in &outcomes {
        assert!(*waited < Duration::from_millis(400), "{outcomes:?}");
    }
    assert!(elapsed < Duration::from_millis(2400), "{elapsed:?}");
    let dropped: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, (ok, _))| !ok)
        .map(|(n, _)| n)
        .collect();
    assert!(!dropped.is_empty(), "{outcomes:?}");
    // Every dropped segment is marked missing (a gap), and counted.
    let missing = writer.missing("live/a/");
    assert_eq!(missing.keys.len(), dropped.len(), "{missing:?}");
    assert_eq!(missing.lost, dropped.len() as u64);
    assert_eq!(
        counter(&registry, "livefleet_storage_puts_total", "dropped"),
        dropped.len() as f64
    );
    // A manifest is never dropped: it waits for room.
    let w = writer.clone();
    tokio::task::spawn_blocking(move || {
        w.blocking_put_within(Put::new("live/a/360p/index.m3u8", Bytes::new()))
    })
    .await
    .unwrap()
    .unwrap();
}
