//! Every broadcast kept as VOD: `livefleet dev` with an ffmpeg publisher and
//! centrifuge-js sending chat; the archive read back from the store and
//! through the origin, decoded by ffmpeg; the live copy deleted after the
//! grace period.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Every object the presentation under `root` names, relative to it.
fn named_objects(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let master = fs::read_to_string(root.join("master.m3u8")).unwrap();
    let uris = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter_map(|l| {
                if let Some(i) = l.find("URI=\"") {
                    l[i + 5..].split('"').next().map(str::to_owned)
                } else if !l.is_empty() && !l.starts_with('#') {
                    Some(l.to_owned())
                } else {
                    None
                }
            })
            .collect()
    };
    for playlist in uris(&master) {
        out.push(playlist.clone());
        let dir = playlist.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
        let text = fs::read_to_string(root.join(&playlist)).unwrap();
        for u in uris(&text) {
            out.push(format!("{dir}/{u}"));
        }
    }
    out
}

/// What the presentation under `root` names but does not hold.
fn missing_objects(root: &Path) -> Vec<String> {
    named_objects(root)
        .into_iter()
        .filter(|p| !root.join(p).is_file())
        .collect()
}

/// The one VOD directory of `channel` once its master is stored.
fn vod_dir(store: &Path, channel: &str) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = fs::read_dir(store.join("vod").join(channel))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.into_iter().find(|d| d.join("master.m3u8").is_file())
}

fn files_under(dir: &Path, ext: &str) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, ext)
            } else {
                usize::from(p.extension().is_some_and(|x| x == ext))
            }
        })
        .sum()
}

/// A nats-server of the test's own (JetStream in `dir`): (process, URL).
fn bus(dir: &Path) -> (Proc, String) {
    let port = free_port();
    (bus_on(dir, port), format!("nats://127.0.0.1:{port}"))
}

/// A nats-server on `port`, JetStream in `dir/js`, once it listens.
fn bus_on(dir: &Path, port: u16) -> Proc {
    let server = Proc::spawn(
        std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("js")),
        dir.join("nats.log"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

const ADMIN_TOKEN: &str = "archive-test-admin-token";

/// A scheduler serving the admin API on the bus `nats_url`: (base URL, process).
fn admin(dir: &Path, nats_url: &str, playback_base: &str) -> (String, Proc) {
    let http = format!("127.0.0.1:{}", free_port());
    let scheduler = Proc::spawn(
        livefleet()
            .args(["scheduler", "--nats-url", nats_url, "--http", &http])
            .args([
                "--metrics",
                "127.0.0.1:0",
                "--playback-base-url",
                playback_base,
            ])
            .env("LIVEFLEET_ADMIN_TOKEN", ADMIN_TOKEN),
        dir.join("scheduler.log"),
    );
    (format!("http://{http}"), scheduler)
}

/// GET with the admin token: (status, body).
fn admin_get(url: &str) -> (u16, String) {
    let out = run(std::process::Command::new("curl").args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--max-time",
        "10",
        "-H",
        &format!("Authorization: Bearer {ADMIN_TOKEN}"),
        url,
    ]));
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn a_broadcast_is_kept_as_vod_with_its_chat_and_the_live_copy_goes_after_the_grace() {
    // dev on a bus of the test's own, with a scheduler's admin API beside it.
    let bus_dir = tempfile::tempdir().unwrap();
    let (_nats, nats_url) = bus(bus_dir.path());
    let dev = Dev::start(
        "vodch",
        &[
            "--grace",
            "2",
            "--delete-live-after",
            "4",
            "--nats-url",
            &nats_url,
        ],
    );
    let (admin_url, _scheduler) = admin(bus_dir.path(), &nats_url, &format!("{}/live", dev.http));
    let store = dev.data.path().join("store");
    let live = dev.channel_dir();
    let publisher = Publisher::ffmpeg(&dev.publish_url, 12);
    dev.wait_for(60, "two live segments", || {
        files_under(&live.join("360p"), "m4s") >= 2
    });
    let sent = js(
        "publish",
        &[
            &dev.chat,
            &dev.chat_token,
            "vodch",
            "-",
            "hello from the live show",
        ],
    );
    assert_eq!(sent["published"], 1, "{sent}");
    // On the air: the admin API says since when.
    let channel_url = format!("{admin_url}/v1/channels/vodch");
    let mut on_air = (0, String::new());
    dev.wait_for(30, "the channel on the air in the admin API", || {
        on_air = admin_get(&channel_url);
        on_air.1.contains("broadcast_started_unix_ms")
    });
    let view: serde_json::Value = serde_json::from_str(&on_air.1).unwrap();
    assert!(
        view["live"]["broadcast_started_unix_ms"].as_i64().unwrap() > 1_700_000_000_000,
        "{view}"
    );
    assert!(
        view["live"]["node"].is_null(),
        "dev places no channel: {view}"
    );
    let (ok, err) = publisher.finish();
    assert!(ok, "publisher: {err}");
    dev.wait_for(90, "the VOD master playlist", || {
        vod_dir(&store, "vodch").is_some()
    });
    let vod = vod_dir(&store, "vodch").unwrap();
    // Counted before the grace period ends and the live copy goes.
    let live_segments = files_under(&live, "m4s");
    let id = vod.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        id.len() > 17 && id.as_bytes()[8] == b'T' && id.contains("Z-"),
        "broadcast id {id}"
    );

    // Complete: every named object is there, every playlist ends, the MPD is static.
    let missing = missing_objects(&vod);
    assert!(
        missing.is_empty(),
        "the VOD names missing objects: {missing:?}"
    );
    for rendition in ["360p", "240p", "audio"] {
        let playlist = fs::read_to_string(vod.join(rendition).join("index.m3u8")).unwrap();
        assert!(
            playlist.contains("#EXT-X-ENDLIST"),
            "{rendition}: {playlist}"
        );
    }
    let mpd = fs::read_to_string(vod.join("manifest.mpd")).unwrap();
    assert!(mpd.contains(r#"type="static""#), "{mpd}");
    assert_eq!(
        files_under(&vod, "m4s"),
        live_segments,
        "every live segment of the broadcast is in the VOD"
    );
    check_presentation(&vod, &["360p", "240p"], "audio", 2.0, 5);
    let errors = decode_errors(&vod.join("master.m3u8"));
    assert!(errors.is_empty(), "ffmpeg reading the VOD: {errors}");
    // The broadcast's last preview picture is the VOD's poster.
    let poster = fs::read(vod.join("thumbnail.jpg")).expect("the VOD's thumbnail.jpg");
    assert_eq!(jpeg_size(&poster), Some((640, 360)));
    // Its storyboard: a tile per segment, each the picture at its start.
    let cues = check_storyboard(&vod, "240p", 30.0);
    assert_eq!(
        cues.len(),
        segment_durations(&vod.join("240p/index.m3u8")).len()
    );

    // The admin API lists it, with playback URLs the origin answers.
    let listed: serde_json::Value = {
        let url = format!("{admin_url}/v1/channels/vodch/broadcasts");
        let mut answer = (0, String::new());
        dev.wait_for(30, "the broadcast listed as complete", || {
            answer = admin_get(&url);
            answer.0 == 200 && answer.1.contains("\"complete\"")
        });
        serde_json::from_str(&answer.1).unwrap()
    };
    let (_, off_air) = admin_get(&channel_url);
    let view: serde_json::Value = serde_json::from_str(&off_air).unwrap();
    assert!(view["live"].is_null(), "off the air after its end: {view}");
    let b = &listed.as_array().unwrap()[0];
    assert_eq!(b["id"], id.as_str(), "{listed}");
    assert!(b["segments"].as_u64().unwrap() >= 5, "{listed}");
    assert!(b["duration_seconds"].as_f64().unwrap() >= 10.0, "{listed}");
    assert_eq!(b["gaps"], 0, "{listed}");
    let hls = b["hls_url"].as_str().unwrap();
    assert_eq!(hls, format!("{}/vod/vodch/{id}/master.m3u8", dev.http));
    let (status, _, _) = http_get(b["dash_url"].as_str().unwrap());
    assert_eq!(status, 200, "{listed}");
    let (status, head, poster) = http_get(b["thumbnail_url"].as_str().unwrap());
    assert_eq!(status, 200, "{listed}");
    assert!(head.contains("content-type: image/jpeg"), "{head}");
    assert_eq!(jpeg_size(&poster), Some((640, 360)));
    let (status, head, vtt) = http_get(b["storyboard_url"].as_str().unwrap());
    assert_eq!(status, 200, "{listed}");
    assert!(head.contains("content-type: text/vtt"), "{head}");
    assert_eq!(storyboard_cues(&text(&vtt)), cues);
    let (status, body) = admin_get(&format!("{admin_url}/v1/channels/Bad!/broadcasts"));
    assert_eq!(status, 422, "{body}");

    // The channel's listing beside its VODs names it for viewer pages,
    // through the origin, short-lived; its paths are relative to it.
    let listing_url = format!("{}/vod/vodch/broadcasts.json", dev.http);
    dev.wait_for(10, "the channel's listing", || {
        http_get(&listing_url).0 == 200
    });
    let (_, head, body) = http_get(&listing_url);
    assert!(head.contains("cache-control: public, max-age=1"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listing["channel"], "vodch", "{listing}");
    assert_eq!(
        listing["broadcasts"].as_array().map(Vec::len),
        Some(1),
        "{listing}"
    );
    let first = &listing["broadcasts"][0];
    assert_eq!(first["id"], id.as_str(), "{listing}");
    assert_eq!(
        first["duration_seconds"], b["duration_seconds"],
        "{listing}"
    );
    for field in ["master", "manifest", "thumbnail", "storyboard"] {
        let path = first[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {listing}"));
        assert!(path.starts_with(&format!("{id}/")), "{field}: {listing}");
        let (status, _, _) = http_get(&format!("{}/vod/vodch/{path}", dev.http));
        assert_eq!(status, 200, "{field}: {listing}");
    }

    // Its chat replay files came along.
    dev.wait_for(30, "the chat replay files in the VOD", || {
        fs::read_dir(vod.join("chat")).is_ok_and(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                fs::read_to_string(e.path()).is_ok_and(|t| t.contains("hello from the live show"))
            })
        })
    });

    // The origin serves it as a finished object.
    let (status, head, body) = http_get(&format!("{}/vod/vodch/{id}/master.m3u8", dev.http));
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("mpegurl"), "{head}");
    assert!(text(&body).contains("#EXT-X-STREAM-INF"));

    // After the grace period the live copy goes, manifests first; the VOD stays.
    dev.wait_for(60, "the live copy deleted", || {
        !live.join("master.m3u8").exists() && files_under(&live, "m4s") == 0
    });
    for p in ["360p/index.m3u8", "manifest.mpd", "thumbnail.jpg"] {
        assert!(!live.join(p).exists(), "{p} left in the live prefix");
    }
    assert!(
        files_under(&live.join("chat"), "json") == 0,
        "live chat files left"
    );
    let missing = missing_objects(&vod);
    assert!(
        missing.is_empty(),
        "deleting the live copy broke the VOD: {missing:?}"
    );
    let log = dev.log();
    assert!(log.contains("broadcast archived"), "{log}");
    std::thread::sleep(Duration::from_millis(200));
}

/// The VOD directory of `channel` whose copy has begun (segments linked)
/// but whose master is not stored yet.
fn vod_in_progress(store: &Path, channel: &str) -> Option<PathBuf> {
    let dirs = fs::read_dir(store.join("vod").join(channel)).ok()?;
    dirs.filter_map(|e| e.ok().map(|e| e.path()))
        .find(|d| !d.join("master.m3u8").exists() && files_under(d, "m4s") > 0)
}

/// The one listed broadcast of `channel` once `done` holds for it.
fn listed_broadcast(
    dev: &Dev,
    admin_url: &str,
    channel: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let url = format!("{admin_url}/v1/channels/{channel}/broadcasts");
    let mut found = serde_json::Value::Null;
    dev.wait_for(30, what, || {
        let (status, body) = admin_get(&url);
        let listed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match listed.as_array().map(Vec::as_slice) {
            Some([b]) if status == 200 && done(b) => {
                found = b.clone();
                true
            }
            _ => false,
        }
    });
    found
}

#[test]
fn a_worker_killed_while_archiving_finishes_the_vod_and_the_deletion_after_restarts() {
    let bus_dir = tempfile::tempdir().unwrap();
    let (_nats, nats_url) = bus(bus_dir.path());
    let on_bus = ["--grace", "2", "--nats-url", &nats_url];
    let mut dev = Dev::start("resumech", &on_bus);
    let (admin_url, _scheduler) = admin(bus_dir.path(), &nats_url, &format!("{}/live", dev.http));
    let store = dev.data.path().join("store");
    let live = dev.channel_dir();
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "publisher: {err}");

    // The copy has begun and waits for the chat relay's last files (5 s):
    // the worker dies there, with no master in the VOD.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let vod = loop {
        if let Some(dir) = vod_in_progress(&store, "resumech") {
            dev.kill_now();
            break dir;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the archive never began\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !vod.join("master.m3u8").exists(),
        "the archive finished before the kill"
    );
    let b = listed_broadcast(&dev, &admin_url, "resumech", "the broadcast listed", |_| {
        true
    });
    assert_eq!(b["state"], "archiving", "{b}");
    let live_segments = files_under(&live, "m4s");
    assert!(live_segments >= 6, "{live_segments} live segments");

    // Restarted, the node takes its unfinished archive over at once; the
    // live copy is to go 8 s after the VOD is complete.
    let mut restart = on_bus.to_vec();
    restart.extend(["--delete-live-after", "8"]);
    dev.restart(&restart);
    dev.wait_for(60, "the VOD master after the restart", || {
        vod.join("master.m3u8").is_file()
    });
    let metrics = text(&http_get(&format!("{}/metrics", dev.http)).2);
    // Killed again while the deletion waits.
    dev.kill_now();
    assert!(
        metrics.contains("livefleet_archive_takeovers_total{work=\"archive\"} 1"),
        "{metrics}"
    );
    assert!(
        live.join("master.m3u8").is_file(),
        "the live copy went before its time"
    );
    let missing = missing_objects(&vod);
    assert!(
        missing.is_empty(),
        "the resumed VOD names missing objects: {missing:?}"
    );
    assert_eq!(
        files_under(&vod, "m4s"),
        live_segments,
        "every live segment of the broadcast is in the resumed VOD"
    );
    check_presentation(&vod, &["360p", "240p"], "audio", 2.0, 2);
    let errors = decode_errors(&vod.join("master.m3u8"));
    assert!(
        errors.is_empty(),
        "ffmpeg reading the resumed VOD: {errors}"
    );
    let b = listed_broadcast(
        &dev,
        &admin_url,
        "resumech",
        "the broadcast complete",
        |b| b["state"] == "complete",
    );
    assert!(b["delete_live_at_unix_ms"].as_i64().is_some(), "{b}");
    assert!(b.get("live_deleted_unix_ms").is_none(), "{b}");

    // Restarted without the setting: the record holds the deletion's time.
    dev.restart(&on_bus);
    dev.wait_for(60, "the live copy deleted after the second restart", || {
        !live.join("master.m3u8").exists() && files_under(&live, "m4s") == 0
    });
    let missing = missing_objects(&vod);
    assert!(
        missing.is_empty(),
        "deleting the live copy broke the VOD: {missing:?}"
    );
    let b = listed_broadcast(&dev, &admin_url, "resumech", "the deletion recorded", |b| {
        b["live_deleted_unix_ms"].is_i64()
    });
    assert_eq!(b["state"], "complete", "{b}");
    let metrics = text(&http_get(&format!("{}/metrics", dev.http)).2);
    assert!(
        metrics.contains("livefleet_archive_takeovers_total{work=\"delete_live\"} 1"),
        "{metrics}"
    );
}

/// The bus loses its storage (stopped, its JetStream directory removed,
/// started empty on the same port) while a second broadcast is being
/// archived: the first broadcast's record is rebuilt from its VOD in the
/// store, and the node copying the second writes its record again.
#[test]
fn a_bus_that_lost_its_storage_lists_the_stored_broadcasts_again() {
    let bus_dir = tempfile::tempdir().unwrap();
    let (nats, nats_url) = bus(bus_dir.path());
    let port: u16 = nats_url.rsplit(':').next().unwrap().parse().unwrap();
    let mut nats = Some(nats);
    let mut dev = Dev::start("rebuildch", &["--grace", "2", "--nats-url", &nats_url]);
    let (admin_url, _scheduler) = admin(bus_dir.path(), &nats_url, &format!("{}/live", dev.http));
    let store = dev.data.path().join("store");
    let url = format!("{admin_url}/v1/channels/rebuildch/broadcasts");
    let listed = || -> Vec<serde_json::Value> {
        let (status, body) = admin_get(&url);
        let all: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match all.as_array() {
            Some(a) if status == 200 => a.clone(),
            _ => Vec::new(),
        }
    };

    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "first publisher: {err}");
    let mut first = serde_json::Value::Null;
    dev.wait_for(90, "the first broadcast complete", || {
        match listed().as_slice() {
            [b] if b["state"] == "complete" => first = b.clone(),
            _ => return false,
        }
        true
    });

    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "second publisher: {err}");
    // The second copy has begun (waiting for the chat relay's last files):
    // the bus loses everything it held.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while vod_in_progress(&store, "rebuildch").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the second archive never began\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(nats.take());
    fs::remove_dir_all(bus_dir.path().join("js")).unwrap();
    nats = Some(bus_on(bus_dir.path(), port));

    let mut both = Vec::new();
    dev.wait_for(90, "both broadcasts listed as complete again", || {
        both = listed();
        both.len() == 2 && both.iter().all(|b| b["state"] == "complete")
    });
    // Newest first.
    let (second, rebuilt) = (&both[0], &both[1]);
    assert_eq!(rebuilt["id"], first["id"], "{both:?}");
    assert!(rebuilt["rebuilt_unix_ms"].is_i64(), "{rebuilt}");
    for field in ["started_unix_ms", "segments", "gaps", "hls_url", "dash_url"] {
        assert_eq!(
            rebuilt[field], first[field],
            "{field}: {rebuilt} against {first}"
        );
    }
    // The playlists' durations (what players show) may count the last
    // frame where the node's record did not.
    let duration = |b: &serde_json::Value| b["duration_seconds"].as_f64().unwrap();
    assert!(
        (duration(rebuilt) - duration(&first)).abs() < 0.1,
        "{rebuilt} against {first}"
    );
    assert!(
        second.get("rebuilt_unix_ms").is_none(),
        "the node copying the second broadcast writes its own record: {second}"
    );
    assert!(second["segments"].as_u64().unwrap() >= 3, "{second}");
    let (status, _, _) = http_get(rebuilt["hls_url"].as_str().unwrap());
    assert_eq!(status, 200, "{rebuilt}");
    let metrics = text(&http_get(&format!("{}/metrics", dev.http)).2);
    assert!(
        metrics.contains("livefleet_archive_records_rebuilt_total 1"),
        "{metrics}"
    );
    // The channel's listing names both, newest first, and a node that
    // starts where it is missing writes it again.
    let listing = store.join("vod/rebuildch/broadcasts.json");
    let ids = || -> Vec<String> {
        let body = fs::read(&listing).unwrap_or_default();
        let l: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        l["broadcasts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["id"].as_str().map(str::to_owned))
            .collect()
    };
    let want = [
        second["id"].as_str().unwrap(),
        rebuilt["id"].as_str().unwrap(),
    ];
    dev.wait_for(30, "both broadcasts in the channel's listing", || {
        ids() == want
    });
    fs::remove_file(&listing).unwrap();
    dev.restart(&["--grace", "2", "--nats-url", &nats_url]);
    dev.wait_for(60, "the listing written again at the start", || {
        ids() == want
    });
    drop(nats);
}
