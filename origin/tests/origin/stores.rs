//! Large ranges, and stores other than a directory (one that does not answer).

use super::*;

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_ranges_are_streamed_not_buffered() {
    let origin = TestOrigin::start().await;
    // A 512 MiB (sparse) segment: two concurrent whole-range reads would take
    // 1 GiB of memory if ranges were read into memory before sending.
    const LEN: u64 = 512 << 20;
    let path = origin.dir.path().join("root/vod/demo/b1/360p/1.m4s");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(&path).unwrap().set_len(LEN).unwrap();
    let before = peak_rss_bytes();
    let fetch = |address: SocketAddr| async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!(
            "GET /vod/demo/b1/360p/1.m4s HTTP/1.1\r\nHost: origin.test\r\nRange: bytes=0-{}\r\nConnection: close\r\n\r\n",
            LEN - 1
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0u64;
        let mut head = Vec::new();
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            if head.len() < 512 {
                head.extend_from_slice(&buf[..n.min(512)]);
            }
            total += n as u64;
        }
        (String::from_utf8_lossy(&head).into_owned(), total)
    };
    let (a, b) = tokio::join!(fetch(origin.address), fetch(origin.address));
    for (head, total) in [a, b] {
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(
            head.to_lowercase()
                .contains(&format!("content-length: {LEN}")),
            "{head}"
        );
        assert!(total > LEN, "the whole range came: {total}");
    }
    let grown = peak_rss_bytes().saturating_sub(before);
    assert!(
        grown < 128 << 20,
        "two 512 MiB ranges raised the peak RSS by {} MiB",
        grown >> 20
    );
}

/// A store whose reads fail, as an S3 bucket that does not answer.
struct Unreachable;

#[async_trait::async_trait]
impl livefleet_storage::Storage for Unreachable {
    async fn put(
        &self,
        key: &str,
        _body: bytes::Bytes,
        _meta: livefleet_storage::ObjectMeta,
    ) -> Result<(), livefleet_storage::StorageError> {
        Err(unreachable_error(key))
    }
    async fn get(
        &self,
        key: &str,
    ) -> Result<Option<bytes::Bytes>, livefleet_storage::StorageError> {
        Err(unreachable_error(key))
    }
    async fn delete(&self, key: &str) -> Result<(), livefleet_storage::StorageError> {
        Err(unreachable_error(key))
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, livefleet_storage::StorageError> {
        Err(unreachable_error(prefix))
    }
}

fn unreachable_error(key: &str) -> livefleet_storage::StorageError {
    livefleet_storage::StorageError::Backend {
        key: key.to_owned(),
        message: "connection refused".into(),
        retryable: true,
    }
}

#[tokio::test]
async fn objects_come_from_a_store_with_the_same_headers_and_ranges() {
    // The same directory, read through the Storage trait as an S3 bucket is.
    let origin = TestOrigin::start_with(|c| {
        let store = livefleet_storage::LocalDir::new(c.root.clone()).unwrap();
        c.store = Some(std::sync::Arc::new(store));
        c.root = "/nonexistent".into();
    })
    .await;
    let reply = origin.get("/live/demo/720p/7.m4s").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "0123456789");
    assert_eq!(reply.header("content-type"), Some("video/iso.segment"));
    assert!(reply.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let reply = origin
        .request("GET", "/live/demo/720p/7.m4s", &[("Range", "bytes=2-5")])
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (206, "2345"));
    assert_eq!(reply.header("content-range"), Some("bytes 2-5/10"));
    let reply = origin
        .request("GET", "/live/demo/720p/7.m4s", &[("Range", "bytes=10-")])
        .await;
    assert_eq!(reply.status, 416);
    let reply = origin.get("/vod/demo/b1/master.m3u8").await;
    assert_eq!(reply.status, 200);
    assert!(reply.text().contains("ENDLIST"));
    for missing in [
        "/live/demo/720p/8.m4s",
        "/live/demo/720p/.tmp-8.m4s-1-0",
        "/live/../livefleet-secret.txt",
    ] {
        let reply = origin.get(missing).await;
        assert_eq!(reply.status, 404, "{missing}");
    }
}

#[tokio::test]
async fn a_store_that_does_not_answer_is_a_short_lived_503() {
    let origin = TestOrigin::start_with(|c| {
        c.store = Some(std::sync::Arc::new(Unreachable));
    })
    .await;
    let reply = origin.get("/live/demo/720p/7.m4s").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert_eq!(reply.header("retry-after"), Some("1"));
}
