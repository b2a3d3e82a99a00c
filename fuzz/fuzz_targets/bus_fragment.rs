//! Fragment headers and reassembly of media messages read from NATS: never
//! panics, never returns more than the size limit, and a message split into
//! fragments comes back whole.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use livefleet_bus::fragment::{split, Part, Reassembler, MAX_MESSAGE};

fuzz_target!(|data: &[u8]| {
    // Header values and payloads from the input, 3 bytes of lengths per
    // message: frag header length, id header length, payload length.
    let mut r = Reassembler::new("fuzz");
    let mut rest = data;
    let mut seq = 0u64;
    while rest.len() >= 3 {
        let (lens, tail) = rest.split_at(3);
        let take = |tail: &[u8], n: u8| -> (Vec<u8>, usize) {
            let n = (n as usize).min(tail.len());
            (tail[..n].to_vec(), n)
        };
        let (frag, a) = take(tail, lens[0] % 16);
        let (id, b) = take(&tail[a..], lens[1] % 20);
        let (payload, c) = take(&tail[a + b..], lens[2]);
        rest = &tail[a + b + c..];
        seq += 1;
        let frag = String::from_utf8_lossy(&frag).into_owned();
        let id = String::from_utf8_lossy(&id).into_owned();
        let frag = (!frag.is_empty()).then_some(frag.as_str());
        if let Ok(part) = Part::parse(frag, Some(&id)) {
            if let Ok(Some((first, whole))) = r.push(seq, part, Bytes::from(payload)) {
                assert!(first <= seq);
                assert!(whole.len() <= MAX_MESSAGE);
            }
        }
    }

    // Round trip of the whole input through split and reassembly.
    let msg = Bytes::copy_from_slice(data);
    let max = 1 + data.first().copied().unwrap_or(0) as usize;
    let pieces = split(&msg, max);
    let count = pieces.len() as u32;
    let mut r = Reassembler::new("fuzz");
    let mut out = None;
    for (index, piece) in (0u32..).zip(pieces) {
        let part = if count == 1 {
            Part::Whole
        } else {
            Part::Fragment {
                id: 1,
                index,
                count,
            }
        };
        match r.push(u64::from(index) + 1, part, piece) {
            Ok(done) => out = done,
            // More fragments than the limit: refused, which is fine.
            Err(_) => return,
        }
    }
    assert_eq!(out, Some((1, msg)));
});
