//! What the benches share: child processes stopped on drop, free loopback
//! ports, a child's CPU time and memory.
// Each bench uses part of this.
#![allow(dead_code)]

#[path = "../../tests/common/ports.rs"]
mod ports;
mod usage;

#[allow(unused_imports)]
pub use ports::free_port;

#[allow(unused_imports)]
pub use usage::{cpu_seconds, measure, reap, status_kib, Usage};

use std::process::{Child, Command};
use std::time::Duration;

/// A child process asked to stop (SIGTERM), then killed, when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the ffmpeg CLI quietly; panics when it fails.
pub fn ffmpeg(args: &[&str]) {
    let s = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg");
    assert!(s.success(), "ffmpeg {args:?}");
}

/// The median of `v` (the upper one of an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The setting `key` from the environment (`LIVEFLEET_BENCH_SECONDS`...),
/// or `default` when it is unset or unreadable.
pub fn setting<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The median over rounds of `f` of side `side`, each round a list of
/// (side, usage) in the same order.
pub fn side_median(runs: &[Vec<(&str, Usage)>], side: usize, f: fn(&Usage) -> f64) -> f64 {
    median(&runs.iter().map(|r| f(&r[side].1)).collect::<Vec<_>>())
}
