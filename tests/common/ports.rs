//! Free loopback ports for the servers a test or bench starts.
//!
//! A port is picked below the kernel's ephemeral range
//! (`net.ipv4.ip_local_port_range`). A port the kernel hands out itself
//! (a listener bound to port 0, the source port of an outgoing connection)
//! comes from that range, so between the pick and the server's own bind no
//! other process can be given it by chance. Picking with a bind to port 0
//! and releasing it raced with exactly that: a scheduler's metrics listener
//! on `127.0.0.1:0` was once given the RTMP port an ingest was about to bind.
//! Within the range below, picks are random and checked free with a bind.

use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;

/// A TCP port free on 127.0.0.1 right now, outside the ephemeral range.
pub fn free_port() -> u16 {
    let low = ephemeral_low().clamp(2048, 65535);
    let first = low / 2;
    for _ in 0..1000 {
        let port = first + (random() % u64::from(low - first)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // Every pick taken: let the kernel choose, as before.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The first port of the kernel's ephemeral range (32768 when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A random number: std's hasher keys are random per process and differ
/// for every `RandomState`.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}
