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
