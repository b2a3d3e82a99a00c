//! Storage on S3 against a real S3-compatible server (`s3s-fs`, which
//! `scripts/setup` installs), started on a free port with credentials: the
//! transcode output read back from the server, the headers every object is
//! stored with, and the errors of a store that cannot be used.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::s3::*;
use common::*;

fn transcode_to(s3: &S3Server, clip: &Path, out: &str, extra: &[&str]) -> Output {
    run(s3
        .livefleet()
        .arg("transcode")
        .arg(clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .args(["--out", out])
        .args(extra))
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_transcode_to_s3_is_complete_on_the_server_with_its_headers() {
    let s3 = S3Server::start(&["media"]);
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 12);
    let r = transcode_to(&s3, &clip, "s3://media/vod/show1", &[]);
    assert!(r.status.success(), "{}{}", text(&r.stdout), text(&r.stderr));
    assert!(text(&r.stdout).contains("s3://media/vod/show1"));

    // The transcoding checks, on what the server stored.
    let out = s3.path("media/vod/show1");
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 6);
    for manifest in ["master.m3u8", "manifest.mpd"] {
        let errors = decode_errors(&out.join(manifest));
        assert!(errors.trim().is_empty(), "{manifest}: {errors}");
    }
    let mpd = fs::read_to_string(out.join("manifest.mpd")).unwrap();
    assert!(mpd.contains("<UTCTiming"), "{mpd}");
    // The storyboard, made from the segments read back from the server.
    assert_eq!(check_storyboard(&out, "240p", 30.0).len(), 6);

    // Every object carries the content type and Cache-Control of its kind.
    let objects = files(&out);
    assert!(objects.len() >= 20, "{objects:?}");
    for key in &objects {
        let h = s3.head(&format!("media/vod/show1/{key}"));
        let (ctype, cache) = match key.rsplit('.').next().unwrap() {
            "m3u8" => ("application/vnd.apple.mpegurl", "max-age=86400"),
            "mpd" => ("application/dash+xml", "max-age=86400"),
            "m4s" => ("video/iso.segment", "immutable"),
            "mp4" => ("video/mp4", "immutable"),
            // The last preview picture, stored again as final at the end,
            // and the storyboard's sprites.
            "jpg" => ("image/jpeg", "max-age=86400"),
            "vtt" => ("text/vtt", "max-age=86400"),
            other => panic!("unexpected object {key} ({other})"),
        };
        assert!(h.contains(&format!("content-type: {ctype}")), "{key}: {h}");
        assert!(
            h.lines()
                .any(|l| l.starts_with("cache-control:") && l.contains(cache)),
            "{key}: {h}"
        );
    }

    // A second run to the same prefix is refused unless --force, which replaces it.
    let again = transcode_to(&s3, &clip, "s3://media/vod/show1", &[]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("not empty"),
        "{}",
        text(&again.stderr)
    );
    // A sprite the new output would not write goes with the old output.
    fs::copy(out.join("storyboard/0.jpg"), out.join("storyboard/7.jpg")).unwrap();
    let forced = transcode_to(&s3, &clip, "s3://media/vod/show1", &["--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    check_presentation(&out, &["360p", "240p"], "audio", 2.0, 6);
    assert!(!out.join("storyboard/7.jpg").exists());
    check_storyboard(&out, "240p", 30.0);
}

#[test]
fn a_store_that_cannot_be_used_fails_at_start_naming_bucket_and_endpoint() {
    let s3 = S3Server::start(&["media"]);
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 2);

    let missing = transcode_to(&s3, &clip, "s3://nobucket/x", &[]);
    let err = text(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        err.contains("\"nobucket\"")
            && err.contains(&s3.endpoint())
            && err.contains("does not exist"),
        "{err}"
    );

    let wrong = run(s3
        .livefleet()
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all")
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .args(["--out", "s3://media/x"]));
    let err = text(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(
        err.contains("\"media\"") && err.contains("access denied"),
        "{err}"
    );

    let unreachable = run(s3
        .livefleet()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .arg("transcode")
        .arg(&clip)
        .arg("--profile")
        .arg(profile("cpu-small.yaml"))
        .args(["--out", "s3://media/x"]));
    let err = text(&unreachable.stderr);
    assert!(!unreachable.status.success());
    assert!(
        err.contains("http://127.0.0.1:9") && err.contains("cannot be reached"),
        "{err}"
    );
    // Nothing was written anywhere.
    assert!(files(&s3.path("media")).is_empty());

    let bad = transcode_to(&s3, &clip, "s3://Bad_Bucket/x", &[]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("not a bucket name"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn folders_are_listed_with_a_delimiter_as_the_local_store_lists_them() {
    use livefleet_storage::{ObjectMeta, S3Config, S3Storage, Storage};
    let s3 = S3Server::start(&["media"]);
    // Every S3 server of the tests takes the same credentials.
    std::env::set_var("AWS_ACCESS_KEY_ID", common::s3::KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", common::s3::SECRET);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = S3Config {
            endpoint: Some(s3.endpoint()),
            region: Some("us-east-1".into()),
            ..S3Config::new("media", "site")
        };
        let store = S3Storage::connect(config).await.unwrap();
        let keys = [
            "vod/a/b1/master.m3u8",
            "vod/a/b2/360p/1.m4s",
            "vod/c/b1/master.m3u8",
            "vod/top.json",
        ];
        for key in keys {
            let body = bytes::Bytes::from_static(b"x");
            store
                .put(key, body, ObjectMeta::for_key(key))
                .await
                .unwrap();
        }
        assert_eq!(store.folders("vod/").await.unwrap(), vec!["a", "c"]);
        assert_eq!(store.folders("vod/a/").await.unwrap(), vec!["b1", "b2"]);
        assert_eq!(store.folders("").await.unwrap(), vec!["vod"]);
        assert!(store.folders("nothing/").await.unwrap().is_empty());
        assert!(store.folders("vod/a").await.is_err(), "not a folder prefix");
    });
}
