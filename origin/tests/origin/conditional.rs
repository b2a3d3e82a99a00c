//! Conditional requests: `ETag` and `Last-Modified` on every object, `304`
//! for the version a client or a CDN already holds, from the directory and
//! from a store alike.

use super::*;

impl TestOrigin {
    fn write(&self, key: &str, body: &[u8]) {
        // Replaced by rename, as the storage writer does.
        let path = self.dir.path().join("root").join(key);
        let tmp = path.with_file_name(".tmp-rewrite");
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }
}

async fn if_none_match(origin: &TestOrigin, method: &str, path: &str, tag: &str) -> Reply {
    origin
        .request(method, path, &[("If-None-Match", tag)])
        .await
}

#[tokio::test]
async fn a_playlist_rewritten_in_place_is_revalidated_by_its_bytes() {
    let origin = TestOrigin::start().await;
    let path = "/live/demo/720p/index.m3u8";
    let first = origin.get(path).await;
    assert_eq!(first.status, 200);
    let tag = first.header("etag").expect("ETag").to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    // A one-second date cannot tell two versions of one second apart.
    assert_eq!(first.header("last-modified"), None);

    for method in ["GET", "HEAD"] {
        let reply = if_none_match(&origin, method, path, &tag).await;
        assert_eq!(reply.status, 304, "{method}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("etag"), Some(tag.as_str()));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=1"));
    }
    let listed = format!("\"stale\", W/{tag}");
    assert_eq!(
        if_none_match(&origin, "GET", path, &listed).await.status,
        304
    );
    assert_eq!(if_none_match(&origin, "GET", path, "*").await.status, 304);
    let other = if_none_match(&origin, "GET", path, "\"stale\"").await;
    assert_eq!(
        (other.status, other.text().as_str()),
        (200, "#EXTM3U\n#EXT-X-VERSION:7\n")
    );

    // The next version, same length, written at once: the old tag no longer
    // matches, whatever the file system's clock says.
    origin.write("live/demo/720p/index.m3u8", b"#EXTM3U\n#EXT-X-VERSION:8\n");
    let reply = if_none_match(&origin, "GET", path, &tag).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "#EXTM3U\n#EXT-X-VERSION:8\n");
    let next = reply.header("etag").unwrap().to_owned();
    assert_ne!(next, tag);
    assert_eq!(if_none_match(&origin, "GET", path, &next).await.status, 304);
}

#[tokio::test]
async fn a_segment_is_revalidated_by_tag_or_date() {
    let origin = TestOrigin::start().await;
    let path = "/live/demo/720p/7.m4s";
    let first = origin.get(path).await;
    let tag = first.header("etag").expect("ETag").to_owned();
    let date = first
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned();
    assert_eq!(if_none_match(&origin, "GET", path, &tag).await.status, 304);
    let reply = origin
        .request("GET", path, &[("If-Modified-Since", &date)])
        .await;
    assert_eq!(
        (reply.status, reply.header("etag")),
        (304, Some(tag.as_str()))
    );
    let before = "Thu, 01 Jan 1970 00:00:00 GMT";
    let reply = origin
        .request("GET", path, &[("If-Modified-Since", before)])
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "0123456789"));
    // If-None-Match decides when both are sent.
    let reply = origin
        .request(
            "GET",
            path,
            &[("If-Modified-Since", &date), ("If-None-Match", "\"stale\"")],
        )
        .await;
    assert_eq!(reply.status, 200);

    // A range of the version the client holds part of, or the whole object
    // when it holds part of another.
    let reply = origin
        .request("GET", path, &[("Range", "bytes=2-5"), ("If-Range", &tag)])
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (206, "2345"));
    let reply = origin
        .request(
            "GET",
            path,
            &[("Range", "bytes=2-5"), ("If-Range", "\"stale\"")],
        )
        .await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "0123456789"));
}

#[tokio::test]
async fn objects_from_a_store_are_revalidated_by_their_bytes() {
    let files = TestOrigin::start().await;
    let origin = TestOrigin::start_with(|c| {
        let store = livefleet_storage::LocalDir::new(c.root.clone()).unwrap();
        c.store = Some(std::sync::Arc::new(store));
        c.root = "/nonexistent".into();
    })
    .await;
    for path in ["/live/demo/720p/7.m4s", "/live/demo/manifest.mpd"] {
        let tag = origin
            .get(path)
            .await
            .header("etag")
            .expect("ETag")
            .to_owned();
        let reply = if_none_match(&origin, "GET", path, &tag).await;
        assert_eq!(reply.status, 304, "{path}");
        assert!(reply.body.is_empty());
        assert_eq!(
            if_none_match(&origin, "GET", path, "\"x\"").await.status,
            200
        );
    }
    // A playlist has the same tag from any origin holding the same bytes.
    let path = "/live/demo/manifest.mpd";
    assert_eq!(
        origin.get(path).await.header("etag"),
        files.get(path).await.header("etag")
    );
}
