//! Faults a test injects into a running worker, to reach the paths that real
//! faults take and no input can cause (a bug's panic in a worker thread).
//!
//! Compiled only with the `failpoints` feature, which the workspace's tests
//! turn on; elsewhere [`hit`] and [`fails`] do nothing.
//! `LIVEFLEET_FAILPOINT=<name>` makes the point of that name panic, once per
//! process; `LIVEFLEET_FAILPOINT=<name>@<n>` makes [`fails`] say yes on the
//! point's n-th pass, once.

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

/// Whether the point `name` fails on this pass: `LIVEFLEET_FAILPOINT=<name>@<n>`
/// says yes on its n-th pass, once per process (a GPU that fails mid-stream).
#[cfg(feature = "failpoints")]
pub(crate) fn fails(name: &str) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PASSES: AtomicU64 = AtomicU64::new(0);
    let Ok(value) = std::env::var("LIVEFLEET_FAILPOINT") else {
        return false;
    };
    let Some((point, n)) = value.split_once('@') else {
        return false;
    };
    point == name && n.parse() == Ok(PASSES.fetch_add(1, Ordering::Relaxed) + 1)
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn fails(_name: &str) -> bool {
    false
}
