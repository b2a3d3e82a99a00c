//! A viewer spike through a real HTTP cache (Varnish from the repo's VCL in
//! front of `livefleet dev`'s origin; the harness is `common/spike.rs`):
//! 2,000 simulated viewers join a live channel within one second and play
//! for 30 s as HLS players do.
//!
//! Every request must succeed (so every viewer gets every segment its
//! playlists offer it), no viewer may be served a playlist
//! older than its Cache-Control allows, and the origin must see few requests
//! per object. Prints the offload ratio, and how often the load generator
//! itself fell behind (on 2 cores it shares the CPU with the encoder and
//! Varnish).

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::spike;
use common::Dev;

const VIEWERS: usize = 2_000;
const PLAY: Duration = Duration::from_secs(30);

#[test]
fn two_thousand_viewers_join_at_once_through_varnish() {
    spike::raise_open_files();
    let dev = Dev::start("demo", &["--demo-source"]);
    let s = spike::run(&dev, VIEWERS, PLAY);
    let tally = &s.tally;
    let origin_total = s.origin_total();
    let viewer_total = s.viewer_requests();
    let segments = tally.segments.load(Ordering::Relaxed);
    let distinct_segments = segments as f64 / VIEWERS as f64 / 2.0;
    println!(
        "spike: {VIEWERS} viewers for {:?}: {viewer_total} viewer requests, {origin_total} origin requests (playlists {}, segments {}, init {}), offload ratio {:.0}x, {segments} segments delivered; late polls {} (segments missed while late: {})",
        PLAY,
        s.origin("playlist"),
        s.origin("segment"),
        s.origin("init"),
        s.offload(),
        tally.late_polls.load(Ordering::Relaxed),
        tally.late_missed.load(Ordering::Relaxed),
    );
    assert_eq!(tally.failures.load(Ordering::Relaxed), 0, "failed requests");
    assert_eq!(
        tally.stale_playlists.load(Ordering::Relaxed),
        0,
        "playlists served older than their Cache-Control allows"
    );
    // Every segment a viewer was offered, it got (no failure above); what a
    // late viewer was never offered stays a small part.
    let late = tally.late_missed.load(Ordering::Relaxed) as f64;
    assert!(
        late <= 0.1 * segments as f64,
        "{late} segments left the window before their viewers polled again ({segments} delivered)"
    );
    // About 15 segments per rendition in 30 s of 2 s segments.
    assert!(distinct_segments >= 10.0, "{segments} segments delivered");
    // Coalescing: each segment and init segment is fetched from the origin about once
    // (3 renditions: 2 video, audio), each playlist about once per second of its lifetime.
    let objects = 3.0 * (distinct_segments + 4.0);
    let media = s.origin("segment") + s.origin("init");
    assert!(
        media <= 2.0 * objects,
        "origin segment requests {media} for about {objects} objects"
    );
    assert!(
        s.origin("playlist") <= 4.0 * (s.seconds + 2.0) + 10.0,
        "origin playlist requests {} in {:.0} s",
        s.origin("playlist"),
        s.seconds
    );
    assert!(s.offload() > 50.0);
}

/// An expired playlist is asked for with its ETag, so an unchanged one costs
/// the origin a `304` without a body; a changed one reaches the viewer.
#[test]
fn varnish_revalidates_an_expired_playlist_with_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let playlist = root.join("live/demo/360p/index.m3u8");
    std::fs::create_dir_all(playlist.parent().unwrap()).unwrap();
    let first = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n";
    std::fs::write(&playlist, first).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let origin_port = listener.local_addr().unwrap().port();
    let registry = prometheus::Registry::new();
    let app = livefleet_origin::router(livefleet_origin::OriginConfig::new(root), registry.clone());
    runtime.spawn(livefleet_origin::serve(
        listener,
        app,
        std::future::pending(),
    ));
    let (_varnish, port) = spike::start_varnish(origin_port, dir.path());

    let origin = |status: &str| -> f64 {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == "livefleet_origin_requests_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "status" && l.value() == status)
            })
            .map(|m| m.get_counter().get_value())
            .sum()
    };
    let url = format!("http://127.0.0.1:{port}/live/demo/360p/index.m3u8");
    let fetch = || {
        let (status, _, body) = common::http_get(&url);
        assert_eq!(status, 200);
        common::text(&body)
    };
    assert_eq!(fetch(), first);
    assert_eq!((origin("2xx"), origin("3xx")), (1.0, 0.0));
    // Past its one-second lifetime, unchanged: revalidated.
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(fetch(), first);
    assert_eq!((origin("2xx"), origin("3xx")), (1.0, 1.0));
    // Changed: the new version, never the kept one.
    let next = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:8\n";
    std::fs::write(&playlist, next).unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(fetch(), next);
    assert_eq!((origin("2xx"), origin("3xx")), (2.0, 1.0));
}
