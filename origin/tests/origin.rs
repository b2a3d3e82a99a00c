//! The origin on a real loopback socket over a temporary storage directory.

use std::net::SocketAddr;

use livefleet_origin::{router, serve, OriginConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The origin serving a temporary directory; stopped on drop.
struct TestOrigin {
    address: SocketAddr,
    /// Holds `root/` (served) and `livefleet-secret.txt` (outside the root).
    dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestOrigin {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut OriginConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let files: &[(&str, &[u8])] = &[
            ("live/demo/master.m3u8", b"#EXTM3U\n"),
            ("live/demo/manifest.mpd", b"<MPD/>"),
            ("live/demo/720p/index.m3u8", b"#EXTM3U\n#EXT-X-VERSION:7\n"),
            ("live/demo/720p/init.mp4", b"ftypinit"),
            ("live/demo/720p/7.m4s", b"0123456789"),
            ("live/demo/chat/7.json", b"[]"),
            ("live/demo/720p/.tmp-8.m4s-1-0", b"partial"),
            ("vod/demo/b1/master.m3u8", b"#EXTM3U\n#EXT-X-ENDLIST\n"),
        ];
        for (key, body) in files {
            let path = root.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        // A file next to (outside) the root that traversal would reach.
        std::fs::write(dir.path().join("livefleet-secret.txt"), b"secret").unwrap();

        let mut config = OriginConfig::new(root);
        config.default_channel = "lobby".into();
        adjust(&mut config);
        let registry = prometheus::Registry::new();
        let app = router(config, registry);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, app, async {
            let _ = stop.await;
        }));
        TestOrigin {
            address,
            dir,
            shutdown: Some(shutdown),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[]).await
    }

    /// Sends the request line exactly as given (no client-side path
    /// normalisation), so traversal attempts reach the server untouched.
    async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        Reply::parse(&raw)
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[tokio::test]
async fn objects_carry_content_type_cache_control_and_cors() {
    let origin = TestOrigin::start().await;
    let cases = [
        (
            "/live/demo/master.m3u8",
            "application/vnd.apple.mpegurl",
            "public, max-age=1",
            "#EXTM3U\n",
        ),
        (
            "/live/demo/manifest.mpd",
            "application/dash+xml",
            "public, max-age=1",
            "<MPD/>",
        ),
        (
            "/live/demo/720p/init.mp4",
            "video/mp4",
            "public, max-age=31536000, immutable",
            "ftypinit",
        ),
        (
            "/live/demo/720p/7.m4s",
            "video/iso.segment",
            "public, max-age=31536000, immutable",
            "0123456789",
        ),
        (
            "/live/demo/chat/7.json",
            "application/json",
            "public, max-age=1",
            "[]",
        ),
        (
            "/vod/demo/b1/master.m3u8",
            "application/vnd.apple.mpegurl",
            "public, max-age=86400",
            "#EXTM3U\n#EXT-X-ENDLIST\n",
        ),
    ];
    for (path, content_type, cache_control, body) in cases {
        let reply = origin.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("cache-control"), Some(cache_control), "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert_eq!(
            reply.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{path}"
        );
        assert_eq!(reply.text(), body, "{path}");
    }

    // With an Origin header as a player on another site sends it.
    let reply = origin
        .request(
            "GET",
            "/live/demo/720p/7.m4s",
            &[("Origin", "https://player.example")],
        )
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));

    // A CORS preflight for a range request.
    let reply = origin
        .request(
            "OPTIONS",
            "/live/demo/720p/7.m4s",
            &[
                ("Origin", "https://player.example"),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "range"),
            ],
        )
        .await;
    assert!(reply.status < 300, "{reply:?}");
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn head_sends_headers_without_a_body() {
    let origin = TestOrigin::start().await;
    let reply = origin.request("HEAD", "/live/demo/720p/7.m4s", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("video/iso.segment"));
    assert_eq!(reply.header("content-length"), Some("10"));
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn missing_objects_are_404_and_not_cached() {
    let origin = TestOrigin::start().await;
    for path in [
        "/live/demo/720p/8.m4s",
        "/live/other/master.m3u8",
        "/live/demo/720p",
        "/live/demo/720p/",
        "/nothing",
    ] {
        let reply = origin.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
    }
}

#[tokio::test]
async fn temporary_files_and_traversal_are_refused() {
    let origin = TestOrigin::start().await;
    assert!(origin
        .dir
        .path()
        .join("root/live/demo/720p/.tmp-8.m4s-1-0")
        .exists());
    for path in [
        "/live/demo/720p/.tmp-8.m4s-1-0",
        "/live/demo/720p/%2etmp-8.m4s-1-0",
        "/live/../../livefleet-secret.txt",
        "/live/demo/../../../livefleet-secret.txt",
        "/live/%2e%2e/%2e%2e/livefleet-secret.txt",
        "/live/%2E%2E%2F%2E%2E%2Flivefleet-secret.txt",
        "/live/..%2f..%2flivefleet-secret.txt",
        "/vod/..%5c..%5clivefleet-secret.txt",
        "/live//etc/passwd",
        "/live/%2fetc%2fpasswd",
        "/vod/./demo/b1/master.m3u8",
        "/live/demo%00/master.m3u8",
    ] {
        let reply = origin.get(path).await;
        assert!(
            reply.status == 404 || reply.status == 400,
            "{path} gave {}: {}",
            reply.status,
            reply.text()
        );
        assert!(!reply.text().contains("secret"), "{path}");
        assert!(!reply.text().contains("partial"), "{path}");
    }
    // An absolute URI in the request line addresses this server, not a file.
    let reply = origin.get("http://origin.test/live/demo/master.m3u8").await;
    assert_eq!(reply.status, 200);
    let reply = origin.get("/etc/passwd").await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn single_byte_ranges() {
    let origin = TestOrigin::start().await;
    let path = "/live/demo/720p/7.m4s";

    let reply = origin.request("GET", path, &[("Range", "bytes=2-5")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.text(), "2345");
    assert_eq!(reply.header("content-range"), Some("bytes 2-5/10"));
    assert_eq!(reply.header("content-length"), Some("4"));
    assert_eq!(reply.header("content-type"), Some("video/iso.segment"));
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));

    let reply = origin.request("GET", path, &[("Range", "bytes=-3")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.text(), "789");

    let reply = origin.request("GET", path, &[("Range", "bytes=8-")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.text(), "89");
    assert_eq!(reply.header("content-range"), Some("bytes 8-9/10"));

    let reply = origin.request("GET", path, &[("Range", "bytes=10-")]).await;
    assert_eq!(reply.status, 416);
    assert_eq!(reply.header("content-range"), Some("bytes */10"));

    // Several ranges: the whole object.
    let reply = origin
        .request("GET", path, &[("Range", "bytes=0-1,4-5")])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "0123456789");
}

#[tokio::test]
async fn viewer_page_health_and_metrics() {
    let origin = TestOrigin::start().await;

    let page = origin.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    for needle in [
        "<video",
        "/assets/hls.min.js",
        "/assets/dash.all.min.js",
        "id=\"rendition\"",
        "id=\"latency\"",
        "id=\"status\"",
        "id=\"chat\"",
        "window.livefleetPlayer",
        "\"defaultChannel\":\"lobby\"",
    ] {
        assert!(html.contains(needle), "viewer page lacks {needle}");
    }

    let health = origin.get("/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));

    origin.get("/live/demo/720p/7.m4s").await;
    origin.get("/live/demo/master.m3u8").await;
    origin.get("/live/demo/720p/init.mp4").await;
    origin.get("/live/demo/720p/99.m4s").await;

    let metrics = origin.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    let text = metrics.text();
    for line in [
        r#"livefleet_origin_requests_total{kind="segment",status="2xx"} 1"#,
        r#"livefleet_origin_requests_total{kind="segment",status="4xx"} 1"#,
        r#"livefleet_origin_requests_total{kind="playlist",status="2xx"} 1"#,
        r#"livefleet_origin_requests_total{kind="init",status="2xx"} 1"#,
        r#"livefleet_origin_requests_total{kind="page",status="2xx"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "metrics lack {line}:\n{text}"
        );
    }
    let bytes: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("livefleet_origin_response_bytes_total "))
        .expect("response bytes counter")
        .parse()
        .unwrap();
    // The page, "ok", 10 + 8 + 8 bytes of objects and the 404 bodies at least.
    assert!(bytes >= html.len() as u64 + 2 + 10 + 8 + 8, "{bytes}");
}

#[tokio::test]
async fn player_scripts_come_from_node_modules() {
    // `npm ci` at the repository root installs them; the origin finds
    // node_modules by walking up from the current directory.
    let origin = TestOrigin::start().await;
    for (path, marker) in [
        ("/assets/hls.min.js", "Hls"),
        ("/assets/dash.all.min.js", "dashjs"),
    ] {
        let reply = origin.get(path).await;
        assert_eq!(
            reply.status,
            200,
            "{path}: {} (run `npm ci` in the repository)",
            reply.text()
        );
        assert_eq!(reply.header("content-type"), Some("text/javascript"));
        assert!(
            reply.body.len() > 100_000,
            "{path} is {} bytes",
            reply.body.len()
        );
        assert!(reply.text().contains(marker), "{path}");
    }
    assert_eq!(origin.get("/assets/other.js").await.status, 404);
    assert_eq!(origin.get("/assets/..%2f..%2fCargo.toml").await.status, 404);
    let page = origin.get("/").await.text();
    assert!(page.contains(r#""hls":true"#) && page.contains(r#""dash":true"#));
    assert!(page.contains(r#""notInstalled":"""#));
}

#[tokio::test]
async fn missing_player_scripts_are_explained() {
    let empty = tempfile::tempdir().unwrap();
    let origin =
        TestOrigin::start_with(|config| config.assets = Some(empty.path().to_path_buf())).await;
    let page = origin.get("/").await.text();
    assert!(page.contains("hls.js is not installed: run `npm ci` in the repository"));
    assert!(page.contains("\"hls\":false"));
    let reply = origin.get("/assets/hls.min.js").await;
    assert_eq!(reply.status, 404);
    assert!(reply
        .text()
        .contains("hls.js is not installed: run `npm ci` in the repository"));
}

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
