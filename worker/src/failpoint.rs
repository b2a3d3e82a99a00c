//! Faults a test injects into a running worker, to reach the paths that real
//! faults take and no input can cause (a bug's panic in a worker thread).
//!
//! Compiled only with the `failpoints` feature, which the workspace's tests
//! turn on; elsewhere [`hit`] is empty. `LIVEFLEET_FAILPOINT=<name>` makes
//! the point of that name panic, once per process.

/// Panics the first time the point `name` is reached, when
/// `LIVEFLEET_FAILPOINT` names it.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FIRED: AtomicBool = AtomicBool::new(false);
    let chosen = std::env::var("LIVEFLEET_FAILPOINT").is_ok_and(|v| v == name);
    if chosen && !FIRED.swap(true, Ordering::Relaxed) {
        panic!("failpoint {name}");
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
