//! Arbitrary bytes through the ingest's per-connection state machine, both
//! from the first byte and after a valid handshake; every publish request is
//! accepted so the media path is reached. Never panics.
//!
//! rml_rtmp itself panics on some malformed chunk streams; the connection
//! contains those panics (`ProtocolError::Library`). libfuzzer's panic hook
//! would abort on the contained panic too, so the default hook is restored:
//! a panic that escapes the connection still fails the run.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use livefleet_base::ChannelName;
use livefleet_ingest::{
    ConnectionEvent, ConnectionSettings, RtmpConnection, MAX_USEFUL_CHUNK_SIZE,
};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

static HOOK: Once = Once::new();

fn drive(conn: &mut RtmpConnection, input: &[u8]) -> Vec<ConnectionEvent> {
    let mut events = Vec::new();
    let _ = conn.handle_input(input, &mut events);
    let channel = ChannelName::new("fuzz").expect("valid name");
    let mut more = Vec::new();
    for e in &events {
        if let ConnectionEvent::PublishRequested(r) = e {
            if let Ok(ev) = conn.accept_publish(r, channel.clone(), 1) {
                more.extend(ev);
            }
        }
    }
    events.extend(more);
    events
}

fn shaken_hands() -> RtmpConnection {
    let mut conn = RtmpConnection::new(settings());
    let mut client = Handshake::new(PeerType::Client);
    let mut to_server = client.generate_outbound_p0_and_p1().expect("p0 p1");
    let mut done = false;
    while !conn.handshake_done() {
        let events = drive(&mut conn, &to_server);
        to_server.clear();
        for e in events {
            if let (ConnectionEvent::Send(b), false) = (e, done) {
                match client.process_bytes(&b).expect("server handshake is valid") {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        to_server.extend(response_bytes)
                    }
                    HandshakeProcessResult::Completed { response_bytes, .. } => {
                        to_server.extend(response_bytes);
                        done = true;
                    }
                }
            }
        }
    }
    conn
}

fn settings() -> ConnectionSettings {
    ConnectionSettings {
        app: "live".to_owned(),
        max_chunk_size: MAX_USEFUL_CHUNK_SIZE,
    }
}

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
    });
    let (first, rest) = data.split_first().unwrap_or((&0, &[]));
    let mut conn = if first & 1 == 0 {
        RtmpConnection::new(settings())
    } else {
        shaken_hands()
    };
    // Feed in pieces of varying size, as reads from a socket arrive.
    let mut rest = rest;
    let mut step = usize::from(*first >> 1) + 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        let (piece, tail) = rest.split_at(n);
        drive(&mut conn, piece);
        rest = tail;
        step = step * 7 % 251 + 1;
    }
});
