//! A viewer spike through a real HTTP cache, printed: simulated HLS viewers
//! join `livefleet dev`'s live channel within one second through Varnish
//! (the repo's VCL, coalescing concurrent misses as a CDN does) and play.
//! Printed: viewer requests, origin requests by kind, the offload ratio
//! (viewer requests / origin requests), how many playlist requests the
//! origin answered `304 Not Modified`, and origin requests per second,
//! beside the viewer requests per second the origin would take without the
//! cache. The harness is the spike test's (`tests/common/spike.rs`).
//!
//! Run: `cargo bench --bench viewer_spike` (LIVEFLEET_BENCH_VIEWERS, default
//! 2000; LIVEFLEET_BENCH_SECONDS, default 30). Figures only.

#[path = "../tests/common/mod.rs"]
mod harness;

use std::time::Duration;

use harness::{spike, Dev};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let viewers = env("LIVEFLEET_BENCH_VIEWERS", 2_000) as usize;
    let play = Duration::from_secs(env("LIVEFLEET_BENCH_SECONDS", 30));
    spike::raise_open_files();
    let dev = Dev::start("demo", &["--demo-source"]);
    let s = spike::run(&dev, viewers, play);
    let seconds = s.seconds.max(1e-3);
    println!(
        "viewer_spike: {} viewers for {:?} through Varnish: {:.0} viewer requests ({:.0}/s), {:.0} origin requests ({:.1}/s: playlists {:.0} of which {:.0} revalidated unchanged (304), segments {:.0}, init {:.0}); offload ratio {:.0}x; failed requests {}, stale playlists {}",
        s.viewers,
        s.play,
        s.viewer_requests(),
        s.viewer_requests() / seconds,
        s.origin_total(),
        s.origin_total() / seconds,
        s.origin("playlist"),
        s.origin("playlist 304"),
        s.origin("segment"),
        s.origin("init"),
        s.offload(),
        s.tally.failures.load(std::sync::atomic::Ordering::Relaxed),
        s.tally
            .stale_playlists
            .load(std::sync::atomic::Ordering::Relaxed),
    );
}
