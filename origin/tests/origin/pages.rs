//! The viewer page, health, metrics and the player scripts.

use super::*;

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
async fn the_storyboard_scrubber_is_built_in() {
    // Served from the binary, with or without node_modules, and never
    // cached longer than the page that loads it.
    let empty = tempfile::tempdir().unwrap();
    let origin =
        TestOrigin::start_with(|config| config.assets = Some(empty.path().to_path_buf())).await;
    let reply = origin.get("/assets/storyboard.js").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/javascript"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert!(reply.text().contains("window.livefleetStoryboard"));
    assert!(origin
        .get("/")
        .await
        .text()
        .contains(r#"<script src="/assets/storyboard.js"></script>"#));
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
