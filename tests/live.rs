//! The live path end to end: `livefleet dev` (its own nats-server, ingest,
//! worker, origin) with real RTMP publishers (ffmpeg, GStreamer).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use common::*;

#[test]
fn live_channel_is_served_as_hls_and_dash_and_ends_as_vod() {
    let dev = Dev::start("live", &["--grace", "2", "--stream-key", "live-test-key"]);
    let publisher = Publisher::ffmpeg(&dev.publish_url, 14);

    dev.wait_for(30, "master playlist on the origin", || {
        http_get(&dev.url("master.m3u8")).0 == 200
    });
    let (_, head, body) = http_get(&dev.url("master.m3u8"));
    assert!(
        head.contains("content-type: application/vnd.apple.mpegurl"),
        "{head}"
    );
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert!(text(&body).contains("#EXT-X-STREAM-INF"), "{}", text(&body));
    dev.wait_for(30, "three live segments", || {
        let (_, _, b) = http_get(&dev.url("360p/index.m3u8"));
        playlist_entries(&text(&b)).0.len() >= 3
    });
    let (status, head, mpd) = http_get(&dev.url("manifest.mpd"));
    assert_eq!(status, 200);
    assert!(head.contains("application/dash+xml"), "{head}");
    assert!(text(&mpd).contains("type=\"dynamic\""), "{}", text(&mpd));
    assert!(!broadcast_ended(&dev.channel_dir()), "ended while live");
    // The preview picture: a JPEG of the source at its size (640x360),
    // short-lived in caches, and renewed as the stream goes on.
    let (status, head, first) = http_get(&dev.url("thumbnail.jpg"));
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: image/jpeg"), "{head}");
    assert!(head.contains("max-age=1"), "{head}");
    assert_eq!(jpeg_size(&first), Some((640, 360)));
    dev.wait_for(10, "a newer preview picture", || {
        http_get(&dev.url("thumbnail.jpg")).2 != first
    });
    let (_, head, _) = http_get(&dev.url("360p/1.m4s"));
    assert!(
        head.contains("immutable"),
        "segments must be immutable: {head}"
    );
    // ffmpeg reads the live HLS through the origin.
    let errors = decode_errors(std::path::Path::new(&dev.url("master.m3u8")));
    assert!(errors.trim().is_empty(), "{errors}");

    let (ok, err) = publisher.finish();
    assert!(ok, "publisher failed: {err}");
    dev.wait_for(30, "ENDLIST after the grace period", || {
        broadcast_ended(&dev.channel_dir())
    });
    check_presentation(&dev.channel_dir(), &["360p", "240p"], "audio", 2.0, 5);
    let mpd = fs::read_to_string(dev.channel_dir().join("manifest.mpd")).unwrap();
    assert!(mpd.contains("type=\"static\""), "{mpd}");

    // A broadcast from start to an orderly stop is nothing to warn an
    // operator about (a start once took a stream being made for one the
    // bus lost, and a stop took dev's own nats-server for a lost server).
    let mut dev = dev;
    let status = dev.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "dev stopped with {status:?}"
    );
    let log = dev.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn gstreamer_rtmp2sink_publishes_too() {
    let dev = Dev::start("gst", &["--grace", "2"]);
    let pipeline = format!(
        "videotestsrc num-buffers=300 is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! \
         x264enc key-int-max=60 tune=zerolatency speed-preset=superfast ! h264parse ! flvmux name=m streamable=true ! \
         rtmp2sink location={} audiotestsrc is-live=true num-buffers=470 ! audio/x-raw,rate=48000,channels=2 ! voaacenc ! aacparse ! m.",
        dev.publish_url
    );
    let out = run(std::process::Command::new("gst-launch-1.0")
        .arg("-e")
        .args(pipeline.split_whitespace()));
    assert!(
        out.status.success(),
        "gst-launch failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    dev.wait_for(40, "ENDLIST", || broadcast_ended(&dev.channel_dir()));
    let (uris, _) =
        playlist_entries(&fs::read_to_string(dev.channel_dir().join("360p/index.m3u8")).unwrap());
    assert!(
        uris.len() >= 4,
        "only {} segments from 10 s of GStreamer",
        uris.len()
    );
    let errors = decode_errors(&dev.channel_dir().join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}

#[test]
fn wrong_key_and_second_publisher_are_refused() {
    let dev = Dev::start(
        "guarded",
        &["--grace", "2", "--stream-key", "right-key-123"],
    );
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url_with_key("wrong-key-123"), 3).finish();
    assert!(!ok, "a wrong key was accepted");
    assert!(
        !dev.channel_dir().exists(),
        "something was written for a refused publish"
    );
    dev.wait_for(5, "a log line naming the refused peer", || {
        let log = dev.log();
        log.contains("unknown stream key") && log.contains("127.0.0.1:")
    });
    let _ = err;

    let first = Publisher::ffmpeg(&dev.publish_url, 10);
    dev.wait_for(20, "the first publisher's segments", || {
        dev.channel_dir().join("360p/1.m4s").exists()
    });
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 3).finish();
    assert!(!ok, "a second publisher on a live channel was accepted");
    assert!(
        err.to_lowercase().contains("already") || err.contains("BadName") || !err.is_empty(),
        "{err}"
    );
    let (ok, err) = first.finish();
    assert!(ok, "the first publisher was disturbed: {err}");
}

#[test]
fn reconnect_within_grace_continues_with_one_discontinuity() {
    let dev = Dev::start("again", &["--grace", "8"]);
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 7).finish();
    assert!(ok, "{err}");
    std::thread::sleep(Duration::from_secs(2));
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 7).finish();
    assert!(ok, "{err}");
    dev.wait_for(40, "ENDLIST after the grace period", || {
        broadcast_ended(&dev.channel_dir())
    });
    let mut positions = Vec::new();
    let mut playlists = String::new();
    for r in ["360p", "240p", "audio"] {
        let text = fs::read_to_string(dev.channel_dir().join(r).join("index.m3u8")).unwrap();
        playlists += &format!("--- {r} ---\n{text}");
        let (uris, disc) = playlist_entries(&text);
        assert_eq!(
            disc.len(),
            1,
            "{r}: expected one discontinuity, got {disc:?}\n{playlists}"
        );
        positions.push((disc[0], uris[disc[0]].clone()));
    }
    assert!(
        positions.windows(2).all(|w| w[0] == w[1]),
        "discontinuity differs across renditions: {positions:?}\n{playlists}--- dev log ---\n{}",
        dev.log()
    );
    let mpd = fs::read_to_string(dev.channel_dir().join("manifest.mpd")).unwrap();
    assert_eq!(
        mpd.matches("<Period").count(),
        2,
        "a new DASH Period after the reconnect: {mpd}"
    );
    check_presentation(&dev.channel_dir(), &["360p", "240p"], "audio", 2.0, 5);
    let errors = decode_errors(&dev.channel_dir().join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}

#[test]
fn publisher_killed_mid_stream_ends_the_broadcast_after_the_grace_period() {
    let dev = Dev::start("killed", &["--grace", "3"]);
    let mut publisher = Publisher::ffmpeg(&dev.publish_url, 30);
    dev.wait_for(30, "segments", || {
        dev.channel_dir().join("360p/2.m4s").exists()
    });
    publisher.kill();
    let killed = std::time::Instant::now();
    dev.wait_for(30, "ENDLIST", || broadcast_ended(&dev.channel_dir()));
    assert!(
        killed.elapsed() >= Duration::from_secs(3),
        "ENDLIST before the grace period passed"
    );
    let errors = decode_errors(&dev.channel_dir().join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
}

/// A process's command, state letter and parent, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(String, char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...; comm may hold spaces, so split at the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((comm, state, ppid))
}

/// Processes whose parent is `pid` and whose command is `name`.
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| proc_stat(*p).is_some_and(|(comm, _, ppid)| comm == name && ppid == pid))
        .collect()
}

#[test]
fn a_dev_killed_with_sigkill_leaves_no_nats_server_behind() {
    let mut dev = Dev::start("orphan", &[]);
    let nats = children_named(dev.child.id(), "nats-server");
    assert_eq!(nats.len(), 1, "dev's own nats-server: {nats:?}");
    dev.child.kill().unwrap();
    dev.child.wait().unwrap();
    // Gone, or a zombie waiting for its new parent to reap it.
    dev.wait_for(10, "the embedded nats-server to stop", || {
        proc_stat(nats[0]).is_none_or(|(_, state, _)| state == 'Z')
    });
}

#[test]
fn without_the_archive_segments_are_deleted_once_they_have_left_the_window() {
    // 2 s segments, 2 listed: a segment goes 3 segments after it left the window.
    let dev = Dev::start(
        "rolling",
        &["--grace", "2", "--no-archive", "--live-window", "2"],
    );
    let mut publisher = Publisher::ffmpeg(&dev.publish_url, 22);
    let dir = dev.channel_dir();
    let mut most = 0;
    let mut gone_while_live = false;
    while publisher.0.try_wait().unwrap().is_none() {
        if let Ok(playlist) = fs::read_to_string(dir.join("360p/index.m3u8")) {
            // Whatever a playlist names is stored (it goes a window later).
            for uri in playlist_entries(&playlist).0 {
                assert!(
                    dir.join("360p").join(&uri).exists(),
                    "{uri} named but gone:\n{playlist}"
                );
            }
            for r in ["360p", "240p", "audio"] {
                most = most.max(segments(&dir.join(r)).len());
            }
            gone_while_live |= !dir.join("360p/0.m4s").exists();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (ok, err) = publisher.finish();
    assert!(ok, "publisher failed: {err}");
    assert!(gone_while_live, "no segment was deleted while live");
    // 2 listed + 3 kept behind them + the one being written.
    assert!(most <= 6, "{most} segments stored in one rendition at once");
    dev.wait_for(30, "ENDLIST after the grace period", || {
        broadcast_ended(&dev.channel_dir())
    });
    // The final manifests name what is stored, HLS and DASH alike, and play.
    let report = python(CHECK_MANIFESTS, &[dir.to_str().unwrap()]);
    assert!(report.contains("files"), "{report}");
    let (uris, _) = playlist_entries(&fs::read_to_string(dir.join("360p/index.m3u8")).unwrap());
    let stored: Vec<String> = segments(&dir.join("360p"))
        .iter()
        .map(|(n, _)| format!("{n}.m4s"))
        .collect();
    assert_eq!(
        uris, stored,
        "the final playlist lists exactly what is stored"
    );
    assert!(!stored.contains(&"0.m4s".to_string()), "{stored:?}");
    let errors = decode_errors(&dir.join("master.m3u8"));
    assert!(errors.trim().is_empty(), "{errors}");
    assert!(
        !dev.data.path().join("store/vod").exists(),
        "no VOD copy without the archive"
    );
    let (_, _, metrics) = http_get(&format!("{}/metrics", dev.http));
    let deleted: f64 = text(&metrics)
        .lines()
        .find_map(|l| l.strip_prefix("livefleet_storage_deletes_total{result=\"ok\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(deleted >= 9.0, "deletes counted: {deleted}");

    // The next broadcast continues the numbering; once its window has moved
    // a window and a segment past the one the first left (its VOD), that
    // one is deleted too, in every rendition.
    let left: Vec<std::path::PathBuf> = ["360p", "240p", "audio"]
        .iter()
        .flat_map(|r| segments(&dir.join(r)).into_iter().map(|(_, path)| path))
        .collect();
    assert!(left.len() >= 6, "{left:?}");
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 16).finish();
    assert!(ok, "second publisher failed: {err}");
    dev.wait_for(30, "the second broadcast's ENDLIST", || {
        fs::read_to_string(dir.join("360p/index.m3u8"))
            .is_ok_and(|p| p.contains("#EXT-X-ENDLIST") && p.lines().all(|l| l != uris[0]))
    });
    let still: Vec<_> = left.iter().filter(|path| path.exists()).collect();
    assert!(
        still.is_empty(),
        "the first broadcast's window is still stored: {still:?}"
    );
}

/// A bug's panic in a worker thread (injected: no input causes one) ends the
/// broadcast; the publisher is told why, and the channel runs again for
/// the next publish.
#[test]
fn after_a_worker_thread_panics_the_publisher_is_told_and_the_next_publish_runs() {
    let failpoint = [("LIVEFLEET_FAILPOINT".to_owned(), "audio-thread".to_owned())];
    let dev = Dev::start_env("panic", &["--grace", "2"], &failpoint);
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 30).finish();
    assert!(!ok, "the publisher streamed on: {err}");
    assert!(err.contains("the audio thread panicked"), "{err}");
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 10).finish();
    assert!(ok, "the second publish failed: {err}");
    assert!(
        dev.log()
            .contains("the channel's thread ended; starting it again"),
        "{}",
        dev.log()
    );
    // The first broadcast ended at the panic, without waiting for its
    // publisher; the restarted channel may have run the end of the first
    // publish as a broadcast of its own. The one to check ends after the
    // second publisher did.
    let seen = dev.log().len();
    dev.wait_for(30, "the second broadcast's end", || {
        dev.log()
            .get(seen..)
            .is_some_and(|l| l.contains("broadcast ended; live-to-VOD manifests written"))
    });
    // The restarted channel continues the numbering with new names (its
    // init generation): after the last discontinuity, the second publish
    // whole, every rendition decoding.
    let dir = dev.channel_dir();
    for r in ["360p", "240p", "audio"] {
        let playlist = fs::read_to_string(dir.join(r).join("index.m3u8")).unwrap();
        let last = playlist.rsplit("#EXT-X-DISCONTINUITY\n").next().unwrap();
        assert!(
            playlist_entries(last).0.len() >= 3 && playlist.contains("#EXT-X-ENDLIST"),
            "{r}:\n{playlist}"
        );
        let errors = decode_errors(&dir.join(r).join("index.m3u8"));
        assert!(errors.trim().is_empty(), "{r}: {errors}");
    }
    let (_, _, metrics) = http_get(&format!("{}/metrics", dev.http));
    let metrics = text(&metrics);
    for line in [
        "livefleet_worker_channel_failures_total{kind=\"panic\"} 1",
        "livefleet_ingest_publishes_total{result=\"ended_by_worker\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// The files under the rendition directories of `dir` (segments and init segments).
fn stored_names(dir: &std::path::Path) -> BTreeSet<String> {
    ["360p", "240p", "audio"]
        .iter()
        .flat_map(|r| {
            fs::read_dir(dir.join(r))
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".m4s") || n.ends_with(".mp4"))
                .map(move |n| format!("{r}/{n}"))
        })
        .collect()
}

/// A node restarted (killed after one broadcast, then killed in the middle
/// of the next) goes on numbering where it left off: no segment or init key
/// is written twice, so a CDN's immutable copies and S3's first copies stay
/// right.
#[test]
fn a_restarted_node_numbers_on_so_no_segment_key_is_written_twice() {
    let mut dev = Dev::start("renumber", &["--grace", "1"]);
    let dir = dev.channel_dir();
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "first publisher: {err}");
    dev.wait_for(30, "the first broadcast's ENDLIST", || {
        broadcast_ended(&dev.channel_dir())
    });
    let first = stored_names(&dir);
    dev.restart(&["--grace", "1"]);
    let mut second = Publisher::ffmpeg(&dev.publish_url, 30);
    dev.wait_for(30, "segments of the second broadcast", || {
        stored_names(&dir).difference(&first).count() >= 6
    });
    second.kill();
    dev.restart(&["--grace", "1"]);
    let before = stored_names(&dir);
    publish_a_new_broadcast(&dev, &before);
}

/// Publishes 6 s and waits for the broadcast's end: its last segment and
/// init segment in every rendition are none of `before`.
fn publish_a_new_broadcast(dev: &Dev, before: &BTreeSet<String>) {
    let dir = dev.channel_dir();
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "publisher: {err}");
    dev.wait_for(30, "the new broadcast's ENDLIST", || {
        broadcast_ended(&dir)
            && fs::read_to_string(dir.join("360p/index.m3u8")).is_ok_and(|p| {
                playlist_entries(&p)
                    .0
                    .iter()
                    .any(|u| !before.contains(&format!("360p/{u}")))
            })
    });
    for r in ["360p", "240p", "audio"] {
        let playlist = fs::read_to_string(dir.join(r).join("index.m3u8")).unwrap();
        let (uris, _) = playlist_entries(&playlist);
        let map = playlist
            .lines()
            .filter_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
            .map(|u| u.trim_end_matches('"').to_string())
            .next_back()
            .unwrap();
        let last = uris.last().unwrap();
        for name in [last, &map] {
            assert!(
                !before.contains(&format!("{r}/{name}")),
                "{r}/{name} of the last broadcast was stored before it began:\n{playlist}"
            );
        }
    }
}

/// A node whose bus lost everything (JetStream's storage wiped, so no
/// broadcast record is left) numbers its next broadcast above the segments
/// and init segments the store holds: nothing stored is written again.
#[test]
fn a_node_whose_bus_lost_its_records_numbers_above_the_store() {
    let mut dev = Dev::start("lostbus", &["--grace", "1"]);
    let dir = dev.channel_dir();
    let (ok, err) = Publisher::ffmpeg(&dev.publish_url, 6).finish();
    assert!(ok, "first publisher: {err}");
    dev.wait_for(30, "the first broadcast's ENDLIST", || {
        broadcast_ended(&dev.channel_dir())
    });
    let before = stored_names(&dir);
    let bytes_before: Vec<(String, Vec<u8>)> = before
        .iter()
        .map(|n| (n.clone(), fs::read(dir.join(n)).unwrap()))
        .collect();
    dev.kill_now();
    fs::remove_dir_all(dev.data.path().join("store/nats")).unwrap();
    dev.restart(&["--grace", "1"]);
    publish_a_new_broadcast(&dev, &before);
    for (name, bytes) in bytes_before {
        assert!(
            fs::read(dir.join(&name)).unwrap() == bytes,
            "{name} was written again"
        );
    }
    let log = dev.log();
    assert!(
        log.contains("numbering above them"),
        "no line says why the numbering jumped:\n{log}"
    );
    let (_, _, metrics) = http_get(&format!("{}/metrics", dev.http));
    let metrics = text(&metrics);
    assert!(
        metrics.contains("livefleet_worker_broadcast_numbering_total{from=\"store\"} 1"),
        "{metrics}"
    );
}
