//! What a chat relay reads from the network: WebSocket frames of commands,
//! a message's data, connection tokens, and the workers' channel events.
//! Never panics; an accepted token names a user.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livefleet_chat::message::parse_draft;
use livefleet_chat::protocol::parse_frame;
use livefleet_chat::TokenKey;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(commands) = parse_frame(&text) {
        for c in commands {
            let _ = c.is_pong();
            if let Some(p) = c.publish {
                let _ = parse_draft(p.data.get(), 500);
            }
        }
    }
    let _ = parse_draft(&text, 500);
    let key = TokenKey::new("fuzz-secret-0123456789abcdef0123456789").expect("long enough");
    if let Ok(identity) = key.verify(&text, 1_700_000_000) {
        assert!(!identity.user.is_empty());
    }
    let (subject, body) = text.split_once(' ').unwrap_or((&text, ""));
    let _ = livefleet_bus::ChannelEvent::parse(subject, body.as_bytes());
});
