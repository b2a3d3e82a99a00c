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

mod conditional;
mod pages;
mod stores;
