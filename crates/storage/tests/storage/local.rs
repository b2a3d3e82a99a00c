//! The local backend against a real directory.

use super::*;

#[tokio::test]
async fn put_get_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDir::new(dir.path().join("store")).unwrap();
    let key = "live/demo/720p/1.m4s";
    store
        .put(key, Bytes::from_static(b"segment"), meta(key))
        .await
        .unwrap();
    assert_eq!(
        store.get(key).await.unwrap().as_deref(),
        Some(&b"segment"[..])
    );
    assert_eq!(
        std::fs::read(store.root().join("live/demo/720p/1.m4s")).unwrap(),
        b"segment"
    );

    store
        .put(key, Bytes::from_static(b"again"), meta(key))
        .await
        .unwrap();
    assert_eq!(
        store.get(key).await.unwrap().as_deref(),
        Some(&b"again"[..])
    );

    store.delete(key).await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), None);
    store.delete(key).await.unwrap(); // missing: still fine
    assert_eq!(store.get("live/demo").await.unwrap(), None); // a directory is no object
    assert_eq!(store.get("live/demo/720p/1.m4s/x").await.unwrap(), None);
    assert!(
        files_under(store.root()).is_empty(),
        "no temporary files left"
    );
}

#[tokio::test]
async fn writes_are_atomic_and_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalDir::new(dir.path().to_path_buf()).unwrap());
    let key = "live/demo/index.m3u8";
    let small = Bytes::from(vec![b'a'; 16]);
    let large = Bytes::from(vec![b'b'; 4 << 20]);
    store.put(key, small.clone(), meta(key)).await.unwrap();

    // Concurrent writers of one key, and a reader that must only ever see one
    // of the whole bodies under the final name.
    let mut writers = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let body = if i % 2 == 0 {
            large.clone()
        } else {
            small.clone()
        };
        writers.push(tokio::spawn(async move {
            store.put(key, body, meta(key)).await.unwrap();
        }));
    }
    let path = store.root().join(key);
    for _ in 0..200 {
        let seen = std::fs::read(&path).unwrap();
        assert!(
            seen[..] == small[..] || seen[..] == large[..],
            "partial file of {} bytes visible",
            seen.len()
        );
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(files_under(store.root()), vec!["index.m3u8".to_owned()]);
}

#[tokio::test]
async fn a_failed_write_removes_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDir::new(dir.path().to_path_buf()).unwrap();
    // A directory with content sits where the object should go: the rename
    // over it fails after the temporary file was written.
    std::fs::create_dir_all(dir.path().join("live/demo/blocked.m4s/inner")).unwrap();
    let key = "live/demo/blocked.m4s";
    let error = store
        .put(key, Bytes::from_static(b"x"), meta(key))
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert!(
        error.to_string().contains(key),
        "error names the key: {error}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("live/demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["blocked.m4s".to_owned()]);
}

#[tokio::test]
async fn bad_keys_are_refused_and_nothing_is_written_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let store = LocalDir::new(root.clone()).unwrap();
    for key in [
        "../escape.m4s",
        "live/../../escape.m4s",
        "/tmp/escape.m4s",
        "live//x.m4s",
        "live\\x.m4s",
        "live/.tmp-x",
        "",
        "live/x y.m4s",
    ] {
        let error = store
            .put(key, Bytes::from_static(b"x"), meta(key))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::BadKey { .. }),
            "{key:?}: {error:?}"
        );
        assert!(!error.is_retryable());
        assert!(matches!(
            store.get(key).await,
            Err(StorageError::BadKey { .. })
        ));
        assert!(matches!(
            store.delete(key).await,
            Err(StorageError::BadKey { .. })
        ));
    }
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("root")]);
    assert!(files_under(&root).is_empty());
    assert!(matches!(
        store.list("../").await,
        Err(StorageError::BadKey { .. })
    ));
}

#[tokio::test]
async fn copies_share_the_bytes_and_a_missing_source_is_reported() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDir::new(dir.path().to_path_buf()).unwrap();
    let key = "live/show/360p/7.m4s";
    store
        .put(key, Bytes::from_static(b"segment seven"), meta(key))
        .await
        .unwrap();
    let to = "vod/show/b1/360p/7.m4s";
    assert!(store.copy(key, to, meta(to)).await.unwrap());
    assert_eq!(
        store.get(to).await.unwrap().as_deref(),
        Some(&b"segment seven"[..])
    );
    // A hard link: the same file, not a second copy of the bytes.
    let (a, b) = (
        std::fs::metadata(store.path_for(key).unwrap()).unwrap(),
        std::fs::metadata(store.path_for(to).unwrap()).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    // Copying again replaces the target; deleting the source keeps the copy.
    assert!(store.copy(key, to, meta(to)).await.unwrap());
    store.delete(key).await.unwrap();
    assert!(store.get(to).await.unwrap().is_some());
    assert!(!store
        .copy("live/show/360p/8.m4s", "vod/show/b1/360p/8.m4s", meta(to))
        .await
        .unwrap());
    assert!(store.copy("../x", to, meta(to)).await.is_err());
    let names = files_under(dir.path());
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with(livefleet_storage::TEMP_PREFIX)),
        "{names:?}"
    );
}

#[tokio::test]
async fn list_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDir::new(dir.path().to_path_buf()).unwrap();
    for key in [
        "live/a/master.m3u8",
        "live/a/720p/1.m4s",
        "live/a/720p/init.mp4",
        "live/ab/master.m3u8",
        "vod/a/b1/master.m3u8",
    ] {
        store
            .put(key, Bytes::from_static(b"x"), meta(key))
            .await
            .unwrap();
    }
    // A stray temporary file is never listed.
    std::fs::write(dir.path().join("live/a/.tmp-stray"), b"x").unwrap();

    assert_eq!(
        store.list("live/a/").await.unwrap(),
        vec![
            "live/a/720p/1.m4s",
            "live/a/720p/init.mp4",
            "live/a/master.m3u8"
        ]
    );
    assert_eq!(
        store.list("live/a").await.unwrap(),
        vec![
            "live/a/720p/1.m4s",
            "live/a/720p/init.mp4",
            "live/a/master.m3u8",
            "live/ab/master.m3u8"
        ]
    );
    assert_eq!(
        store.list("live/a/720p/i").await.unwrap(),
        vec!["live/a/720p/init.mp4"]
    );
    assert_eq!(store.list("").await.unwrap().len(), 5);
    assert!(store.list("nothing/here/").await.unwrap().is_empty());
}

#[tokio::test]
async fn folders_are_the_next_level_that_holds_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDir::new(dir.path().to_path_buf()).unwrap();
    for key in [
        "vod/a/b1/master.m3u8",
        "vod/a/b2/360p/1.m4s",
        "vod/c/b1/master.m3u8",
        "vod/top.json",
        "live/a/master.m3u8",
    ] {
        store
            .put(key, Bytes::from_static(b"x"), meta(key))
            .await
            .unwrap();
    }
    // A directory a deletion left empty, one holding only a temporary file,
    // and a hidden one are no folders.
    std::fs::create_dir_all(dir.path().join("vod/empty/b1/360p")).unwrap();
    std::fs::create_dir_all(dir.path().join("vod/stray")).unwrap();
    std::fs::write(dir.path().join("vod/stray/.tmp-x"), b"x").unwrap();
    std::fs::create_dir_all(dir.path().join("vod/.hidden")).unwrap();
    std::fs::write(dir.path().join("vod/.hidden/k"), b"x").unwrap();

    assert_eq!(store.folders("vod/").await.unwrap(), vec!["a", "c"]);
    assert_eq!(store.folders("vod/a/").await.unwrap(), vec!["b1", "b2"]);
    assert_eq!(store.folders("").await.unwrap(), vec!["live", "vod"]);
    assert!(store.folders("nothing/").await.unwrap().is_empty());
    assert!(store
        .folders("vod/a/b1/master.m3u8/")
        .await
        .unwrap()
        .is_empty());
    assert!(store.folders("vod/a").await.is_err(), "not a folder prefix");
    assert!(store.folders("../").await.is_err());
    // The default, from a full listing, agrees.
    let keys = store.list("vod/").await.unwrap();
    assert_eq!(livefleet_storage::folders_of("vod/", &keys), vec!["a", "c"]);
}
